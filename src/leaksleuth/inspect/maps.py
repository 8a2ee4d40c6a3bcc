"""Go maps read from a live process or a core: entries, capacity, and the memory they hold.

``inspect_maps`` runs ``gdbscripts/go_maps.py`` in gdb, validates the JSON it prints, and turns
the raw structure (bucket/group counts, slot states) into byte figures with the allocator's
rounding: Go's size classes up to 32 KiB, pages of 8 KiB above, and the 8-byte malloc header
of pointerful objects over 512 bytes (Go 1.22+). Maps are ranked by bytes held beyond what
their live entries need: a map filled and then emptied ranks first.

Bytes held count the map's own allocations (header, bucket/group arrays, overflow buckets,
tables, directory, indirect keys/elems). Memory that keys and values point to (string bytes,
pointed-to structs) is not counted: it may be shared.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from leaksleuth.errors import InspectError
from leaksleuth.inspect.buildinfo import BuildInfo, read_buildinfo
from leaksleuth.inspect.elf import exe_of_pid, open_elf
from leaksleuth.inspect.findings import MapFinding
from leaksleuth.inspect.gdb import GCORE_HINT, GdbBackend, check_pid, run_script

# Go's size classes (runtime/sizeclasses.go; identical from go1.21 to go1.26).
SIZE_CLASSES: tuple[int, ...] = (
    8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320,
    352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792,
    2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472,
    9728, 10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264,
    28672, 32768,
)
MAX_SMALL = 32768
PAGE_SIZE = 8192
MALLOC_HEADER = 8
MIN_SIZE_FOR_MALLOC_HEADER = 512

Layout = Literal["classic", "swiss", "sync.Map"]


def alloc_size(size: int, pointers: bool) -> int:
    """Bytes the Go heap charges (HeapAlloc) for one object of ``size`` bytes."""
    if size <= 0:
        return 0
    if size <= MAX_SMALL - MALLOC_HEADER:  # mallocgc's small-object test, pointers or not
        req = size + MALLOC_HEADER if pointers and size > MIN_SIZE_FOR_MALLOC_HEADER else size
        for c in SIZE_CLASSES:
            if req <= c:
                return c
    return (size + PAGE_SIZE - 1) // PAGE_SIZE * PAGE_SIZE


@dataclass(frozen=True)
class MapReport:
    """One map (or the maps inside a nested map's values, or a sync.Map), with its figures."""

    variable: str
    type: str
    layout: Layout
    live_entries: int
    count_field: int  # the runtime's own count (hmap.count / Map.used): cross-check
    capacity_slots: int
    deleted_slots: int  # classic emptyOne, Swiss tombstones, sync.Map entries with nil value
    empty_slots: int
    bytes_held: int
    bytes_needed: int
    buckets: int = 0  # classic: 2^B
    overflow_buckets: int = 0
    old_buckets: int = 0  # classic growth in progress
    nevacuate: int = 0
    growing: bool = False
    tables: int = 0  # Swiss: distinct tables
    groups: int = 0
    directory_length: int = 0
    maps: int = 1  # > 1 for the aggregated inner maps of a nested map
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def bytes_excess(self) -> int:
        return max(self.bytes_held - self.bytes_needed, 0)

    @property
    def ratio(self) -> float:
        """Bytes held per byte needed (inf for an emptied map that still holds memory)."""
        return self.bytes_held / self.bytes_needed if self.bytes_needed else float("inf")

    @property
    def counts_agree(self) -> bool:
        return self.live_entries == self.count_field

    def to_finding(self) -> MapFinding:
        extra = {k: v for k, v in self.to_json_dict().items() if k not in {
            "variable", "type", "layout", "live_entries", "capacity_slots", "deleted_slots",
            "bytes_held", "bytes_needed"}}
        return MapFinding(variable=self.variable, type=self.type, layout=self.layout,
                          live_entries=self.live_entries, capacity_slots=self.capacity_slots,
                          deleted_slots=self.deleted_slots, bytes_held=self.bytes_held,
                          bytes_needed=self.bytes_needed, extra=extra)

    def to_json_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["bytes_excess"] = self.bytes_excess
        d["ratio"] = None if not self.bytes_needed else round(self.ratio, 3)
        return d


@dataclass(frozen=True)
class MapInspection:
    """Every map found, ranked by bytes held beyond need, with how the read went."""

    target: str  # "pid 1234" or "core core.1234"
    exe: str
    go_version: str
    layout: Literal["classic", "swiss"]
    maps: tuple[MapReport, ...]
    stopped_seconds: float | None  # how long a live target was stopped (None for a core)
    gdb_seconds: float
    reads: int = 0
    bytes_read: int = 0
    warnings: tuple[str, ...] = ()
    resumed: bool = False  # the runner had to SIGCONT the target

    def findings(self) -> tuple[MapFinding, ...]:
        return tuple(m.to_finding() for m in self.maps)

    def find(self, variable: str) -> MapReport | None:
        for m in self.maps:
            if m.variable == variable:
                return m
        return None

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "target": self.target, "exe": self.exe, "go_version": self.go_version,
            "layout": self.layout, "stopped_seconds": self.stopped_seconds,
            "gdb_seconds": self.gdb_seconds, "reads": self.reads, "bytes_read": self.bytes_read,
            "warnings": list(self.warnings), "resumed": self.resumed,
            "maps": [m.to_json_dict() for m in self.maps],
        }


# ---------------------------------------------------------------------------------------------
# turning the gdb document into reports


def _int(d: dict[str, Any], key: str) -> int:
    v = d.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise InspectError(f"gdb script returned malformed output: {key!r} is {v!r}")
    return v


def _dict(d: dict[str, Any], key: str) -> dict[str, Any]:
    v = d.get(key)
    if not isinstance(v, dict):
        raise InspectError(f"gdb script returned malformed output: {key!r} is not an object")
    return v


def _indirect_bytes(m: dict[str, Any], live: int) -> int:
    held = 0
    if m.get("key_indirect"):
        held += live * alloc_size(_int(m, "key_target_size"), bool(m.get("key_target_pointers")))
    if m.get("elem_indirect"):
        held += live * alloc_size(_int(m, "elem_target_size"),
                                  bool(m.get("elem_target_pointers")))
    return held


def _needed(m: dict[str, Any], live: int) -> int:
    """Slots plus indirect objects the live entries need (one control byte each)."""
    return live * (_int(m, "key_size") + _int(m, "elem_size") + 1) + _indirect_bytes(m, live)


def _classic(m: dict[str, Any]) -> MapReport:
    ptrs = bool(m.get("pointers"))
    bs = _int(m, "container_size")
    new = _dict(m, "new") if m.get("new") is not None else None
    old = _dict(m, "old") if m.get("old") is not None else None
    held = alloc_size(_int(m, "header_size"), True)
    deleted = empty = cap = ovf = 0
    for part in (new, old):
        if part is None:
            continue
        held += alloc_size(_int(part, "allocated_buckets") * bs, ptrs)
        held += _int(part, "overflow_separate") * alloc_size(bs, ptrs)
        deleted += _int(part, "empty_one")
        empty += _int(part, "empty_rest")
    if new is not None:
        ovf = _int(new, "overflow_preallocated") + _int(new, "overflow_separate")
        cap = 8 * (_int(new, "buckets") + ovf)
    for c in m.get("extra_overflow_caps") or []:
        if isinstance(c, int) and c >= 0:
            held += alloc_size(24, True) + alloc_size(c * 8, True)
    if m.get("extra_size"):
        held += alloc_size(_int(m, "extra_size"), True)
    live = _int(m, "live_entries")
    held += _indirect_bytes(m, live)
    return MapReport(
        variable=str(m["variable"]), type=str(m["type"]), layout="classic", live_entries=live,
        count_field=_int(m, "count_field"), capacity_slots=cap, deleted_slots=deleted,
        empty_slots=empty, bytes_held=held, bytes_needed=_needed(m, live),
        buckets=_int(new, "buckets") if new else 0, overflow_buckets=ovf,
        old_buckets=_int(old, "buckets") if old else 0, nevacuate=_int(m, "nevacuate"),
        growing=bool(m.get("growing")),
        details={"B": m.get("B"), "noverflow": m.get("noverflow"), "new": new, "old": old},
    )


def _swiss(m: dict[str, Any]) -> MapReport:
    ptrs = bool(m.get("pointers"))
    gs = _int(m, "container_size")
    slots = _dict(m, "slots")
    held = alloc_size(_int(m, "header_size"), True)
    tables = m.get("tables") or []
    if not isinstance(tables, list):
        raise InspectError("gdb script returned malformed output: 'tables' is not a list")
    if m.get("small"):
        held += alloc_size(gs, ptrs) * _int(m, "groups")
    else:
        held += alloc_size(8 * _int(m, "dir_len"), True)
        for t in tables:
            held += alloc_size(_int(m, "table_size"), True)
            held += alloc_size(_int(t, "groups") * gs, ptrs)
    live = _int(m, "live_entries")
    held += _indirect_bytes(m, live)
    return MapReport(
        variable=str(m["variable"]), type=str(m["type"]), layout="swiss", live_entries=live,
        count_field=_int(m, "count_field"), capacity_slots=8 * _int(m, "groups"),
        deleted_slots=_int(slots, "deleted"), empty_slots=_int(slots, "empty"),
        bytes_held=held, bytes_needed=_needed(m, live), tables=len(tables),
        groups=_int(m, "groups"), directory_length=_int(m, "dir_len"),
        details={"small": bool(m.get("small")), "global_depth": m.get("global_depth"),
                 "tombstone_possible": m.get("tombstone_possible"),
                 "table_capacity": sum(_int(t, "capacity") for t in tables),
                 "table_used": sum(_int(t, "used") for t in tables)},
    )


def _one(m: dict[str, Any]) -> MapReport:
    if m.get("layout") == "classic":
        return _classic(m)
    if m.get("layout") == "swiss":
        return _swiss(m)
    raise InspectError(f"gdb script returned malformed output: layout {m.get('layout')!r}")


def _aggregate(name: str, parts: list[MapReport]) -> MapReport:
    """The maps stored in a nested map's values, summed into one report."""
    first = parts[0]
    return MapReport(
        variable=name, type=first.type, layout=first.layout,
        live_entries=sum(p.live_entries for p in parts),
        count_field=sum(p.count_field for p in parts),
        capacity_slots=sum(p.capacity_slots for p in parts),
        deleted_slots=sum(p.deleted_slots for p in parts),
        empty_slots=sum(p.empty_slots for p in parts),
        bytes_held=sum(p.bytes_held for p in parts),
        bytes_needed=sum(p.bytes_needed for p in parts),
        buckets=sum(p.buckets for p in parts),
        overflow_buckets=sum(p.overflow_buckets for p in parts),
        old_buckets=sum(p.old_buckets for p in parts),
        growing=any(p.growing for p in parts), tables=sum(p.tables for p in parts),
        groups=sum(p.groups for p in parts), maps=len(parts),
        details={"largest": max(p.live_entries for p in parts)},
    )


def _sync_map(m: dict[str, Any]) -> MapReport:
    live = _int(m, "live_entries")
    deleted = _int(m, "deleted_entries")
    name, addr_type = str(m["variable"]), "sync.Map"
    if m.get("form") == "hash-trie":
        nodes = _int(m, "trie_nodes")
        esz = alloc_size(_int(m, "entry_size"), True)
        held = nodes * alloc_size(_int(m, "node_size"), True) + live * esz
        return MapReport(
            variable=name, type=addr_type, layout="sync.Map", live_entries=live,
            count_field=live, capacity_slots=16 * nodes, deleted_slots=0,
            empty_slots=max(16 * nodes - live, 0), bytes_held=held, bytes_needed=live * esz,
            details={"form": "hash-trie", "trie_nodes": nodes, "entries": live},
        )
    inner = [_one(x) for x in (m.get("read"), m.get("dirty")) if isinstance(x, dict)]
    deleted_in = {str(x.get("variable")): int(x.get("entries_deleted", 0))
                  for x in (m.get("read"), m.get("dirty")) if isinstance(x, dict)}
    auth = m.get("dirty") if m.get("amended") and isinstance(m.get("dirty"), dict) else m.get(
        "read")
    entries = m.get("entries_unique")  # *entry objects of read and dirty (they share some)
    if not isinstance(entries, int):
        entries = 0
    held = sum(r.bytes_held for r in inner) + entries * alloc_size(_int(m, "entry_size"), True)
    auth_rep = next((r for r in inner if isinstance(auth, dict) and
                     r.variable == auth.get("variable")), None)
    return MapReport(
        variable=name, type=addr_type, layout="sync.Map", live_entries=live,
        count_field=auth_rep.count_field if auth_rep else live,
        capacity_slots=auth_rep.capacity_slots if auth_rep else 0,
        deleted_slots=deleted + (auth_rep.deleted_slots if auth_rep else 0),
        empty_slots=auth_rep.empty_slots if auth_rep else 0, bytes_held=held,
        bytes_needed=live * (16 + 8 + 1 + alloc_size(8, True)),
        details={"form": "read+dirty", "amended": bool(m.get("amended")),
                 "maps": {r.variable: r.to_json_dict() for r in inner},
                 "entries": entries, "deleted_entries": deleted_in},
    )


def reports_from_document(doc: dict[str, Any]) -> list[MapReport]:
    """Validate the gdb document's ``maps`` list and compute every map's figures."""
    raw = doc.get("maps")
    if not isinstance(raw, list):
        raise InspectError("gdb script returned malformed output: no 'maps' list")
    out: list[MapReport] = []
    for m in raw:
        if not isinstance(m, dict) or not isinstance(m.get("variable"), str):
            raise InspectError("gdb script returned malformed output: a map without a name")
        if m.get("nil"):
            continue
        if m.get("layout") == "sync.Map":
            out.append(_sync_map(m))
            continue
        out.append(_one(m))
        inner = m.get("inner_maps")
        if isinstance(inner, list) and inner:
            out.append(_aggregate(m["variable"] + "[*]", [_one(x) for x in inner]))
    out.sort(key=lambda r: (-r.bytes_excess, -r.bytes_held, r.variable))
    return out


# ---------------------------------------------------------------------------------------------
# the entry point


_KIND_HELP = {
    "no-variable": "",
    "not-a-map": "",
    "memory": " (the process or core does not match the executable?)",
}


def _check_core(core: Path) -> None:
    with open_elf(core, "core file", f"{core} is not a core file (not ELF)") as elf:
        if elf.header["e_type"] != "ET_CORE":
            raise InspectError(f"{core} is not a core file")


def load_target_buildinfo(exe: Path, what: str) -> BuildInfo:
    """Build info of ``exe`` with errors naming the target, and the DWARF/version checks."""
    try:
        bi = read_buildinfo(exe)
    except InspectError as exc:
        if "not a Go program" in str(exc) or "not an ELF" in str(exc):
            raise InspectError(f"{what} is not a Go program ({exe}: no Go build info)") from None
        raise
    bi.check_supported()
    if not bi.has_dwarf:
        raise InspectError(
            f"{exe} has no DWARF (built with -ldflags=-s -w?): gdb cannot find map variables or "
            "their types. Still possible: `leaksleuth classify HEAP --exe BIN` (map/slice/"
            "channel growth from .gopclntab) and pprof analysis; rebuild without -s -w to "
            "inspect maps")
    return bi


# Pointer dereferences plus struct fields followed from a package-level variable: a service's
# `var service *api` -> api.sessions (*Store) -> Store.m (map) takes four.
DEFAULT_DEPTH = 6


def inspect_maps(*, pid: int | None = None, core: str | Path | None = None,
                 exe: str | Path | None = None, var: str | None = None, timeout: float = 60.0,
                 gdb_path: str | Path | None = None, backend: GdbBackend | None = None,
                 depth: int = DEFAULT_DEPTH, include_std: bool = False,
                 read_chunk_bytes: int = 32 << 20) -> MapInspection:
    """Read every map of a live process (``pid``) or a core (``core`` + ``exe``).

    Package-level map variables, maps reached through package-level pointers and struct
    fields to ``depth`` levels, the maps in nested maps' values and ``sync.Map`` contents.
    ``var`` limits it to one variable (``main.cache`` or ``cache`` for package main). A live
    target is stopped only while gdb reads and is always left running. Raises
    ``InspectError`` with a one-line message on any failure. ``read_chunk_bytes`` caps one
    read of a bucket array (gdb's memory use; smaller means more reads).
    """
    if (pid is None) == (core is None):
        raise InspectError("give either a PID or a core file (with its executable)")
    if core is not None:
        core = Path(core)
        _check_core(core)
        if exe is None:
            raise InspectError(f"a core file needs its executable: pass --exe BIN (gdb cannot "
                               f"read Go types from {core} alone)")
        exe = Path(exe)
        what = str(exe)
        target = f"core {core}"
    else:
        assert pid is not None
        check_pid(pid)
        exe = Path(exe) if exe is not None else exe_of_pid(pid)
        what = f"PID {pid}"
        target = f"pid {pid}"
    bi = load_target_buildinfo(exe, what)
    with _gdb_readable(exe) as gdb_exe:
        return _run_inspection(bi, exe, gdb_exe, target, pid=pid, core=core, var=var,
                               timeout=timeout, gdb_path=gdb_path, backend=backend,
                               depth=depth, include_std=include_std,
                               chunk_bytes=read_chunk_bytes)


@contextlib.contextmanager
def _gdb_readable(exe: Path) -> Iterator[Path]:
    """A path gdb can open: gdb follows ``/proc/PID/exe`` to the deleted file's old name, so a
    replaced executable is copied out of /proc first (and removed afterwards)."""
    if not str(exe).startswith("/proc/"):
        yield exe
        return
    with tempfile.TemporaryDirectory(prefix="leaksleuth-exe-") as tmp:
        copy = Path(tmp) / "exe"
        try:
            shutil.copyfile(exe, copy)
        except OSError as exc:
            raise InspectError(f"cannot read {exe} ({exc.strerror}); pass --exe") from None
        yield copy


def _run_inspection(bi: BuildInfo, exe: Path, gdb_exe: Path, target: str, *, pid: int | None,
                    core: Path | None, var: str | None, timeout: float,
                    gdb_path: str | Path | None, backend: GdbBackend | None, depth: int,
                    include_std: bool, chunk_bytes: int) -> MapInspection:
    params: dict[str, Any] = {
        "exe": str(gdb_exe), "pid": pid, "core": str(core) if core is not None else None,
        "var": var, "depth": depth, "include_std": include_std,
        "modules": [bi.main_path, *(m for m, _ in bi.modules)], "chunk_bytes": chunk_bytes,
        "size_classes": list(SIZE_CLASSES),
    }
    res = run_script("go_maps.py", params, pid=pid, timeout=timeout, gdb_path=gdb_path,
                     backend=backend)
    doc = res.doc
    if not doc.get("ok"):
        kind = str(doc.get("kind", "script"))
        msg = str(doc.get("error", "unknown error")).strip().splitlines()[0]
        if kind == "ptrace":
            raise InspectError(f"ptrace refused attaching to PID {pid} ({msg}); another "
                               "debugger may be attached, or kernel.yama.ptrace_scope / a "
                               f"missing CAP_SYS_PTRACE forbids it; {GCORE_HINT}")
        if kind == "gone":
            raise InspectError(f"PID {pid} has exited (a zombie waiting for its parent)")
        if kind == "attach":
            raise InspectError(f"gdb cannot attach to PID {pid}: {msg}")
        raise InspectError(msg + _KIND_HELP.get(kind, ""))
    reports = reports_from_document(doc)
    warnings = [str(w) for w in doc.get("warnings") or []]
    found = {r.layout for r in reports} - {"sync.Map"}
    if found and found != {bi.map_layout}:
        warnings.append(f"build info says {bi.map_layout} maps but DWARF shows {sorted(found)}")
    for r in reports:
        if r.layout != "sync.Map" and not r.counts_agree:
            warnings.append(f"{r.variable}: counted {r.live_entries} live entries but the "
                            f"runtime's count is {r.count_field} (map being written?)")
    stopped = doc.get("stopped_seconds")
    return MapInspection(
        target=target, exe=str(exe), go_version=bi.go_version, layout=bi.map_layout,
        maps=tuple(reports),
        stopped_seconds=float(stopped) if isinstance(stopped, (int, float)) else None,
        gdb_seconds=res.wall_seconds, reads=int(doc.get("reads", 0)),
        bytes_read=int(doc.get("bytes_read", 0)), warnings=tuple(warnings),
        resumed=res.resumed,
    )
