"""The runtime frames pprof hides, recovered from heap ``debug=1`` raw PCs and the executable.

pprof and the ``#`` lines of ``debug=1`` drop the leading ``runtime.*`` frames, so a map insert
and an append are both charged to the user function. The ``@`` line still lists every PC; with
the executable's ELF symbol table (pyelftools) the hidden ones get their names back:
``runtime.hashGrow``/``internal/runtime/maps.newTable`` (a map), ``runtime.growslice`` (a slice).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from leaksleuth.analyze.series import SessionSeries, is_stdlib, load_safely, own_frame
from leaksleuth.errors import LeaksleuthError
from leaksleuth.profile.frames import normalize_function
from leaksleuth.profile.model import Profile


class Symbolizer:
    """PC -> function name from an ELF ``.symtab`` (Go keeps it unless built with ``-s``).

    Also answers which functions a function calls directly (``calls``), read from its machine
    code: x86-64 ``CALL rel32`` and arm64 ``BL``. Only targets that are exactly a function's
    entry count, so the odd ``0xE8`` byte inside another instruction does not.
    """

    def __init__(self, exe: Path) -> None:
        starts: list[tuple[int, int, str]] = []
        self._text = b""
        self._text_addr = 0
        self._machine = ""
        try:
            with open(exe, "rb") as fh:
                elf = ELFFile(fh)
                self._machine = str(elf["e_machine"])
                sec = elf.get_section_by_name(".symtab")
                if isinstance(sec, SymbolTableSection):
                    for sym in sec.iter_symbols():
                        if sym["st_info"]["type"] == "STT_FUNC" and sym["st_value"]:
                            starts.append((int(sym["st_value"]), int(sym["st_size"]), sym.name))
                text = elf.get_section_by_name(".text")
                if text is not None:
                    self._text = text.data()
                    self._text_addr = int(text["sh_addr"])
        except (OSError, ELFError):
            starts = []
        starts.sort()
        self._addrs = [s[0] for s in starts]
        self._syms = starts
        # pprof spells generic instantiations F[...]; the symbol table F[go.shape.int]:
        # both normalised, so every instantiation of a generic function counts
        self._by_name: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for a, size, name in starts:
            self._by_name[normalize_function(name)].append((a, size))
        self._entry = {a: name for a, _, name in starts}

    def __bool__(self) -> bool:
        return bool(self._syms)

    def lookup(self, pc: int) -> str | None:
        """The function containing ``pc`` (a return address: ``pc - 1`` is the call)."""
        i = bisect.bisect_right(self._addrs, pc - 1) - 1
        if i < 0:
            return None
        start, size, name = self._syms[i]
        return name if size == 0 or pc - 1 < start + size else None

    def calls(self, function: str) -> frozenset[str]:
        """Functions ``function`` calls directly (empty when unknown or not x86-64/arm64)."""
        out: set[str] = set()
        for addr, size in self._by_name.get(normalize_function(function), ()):
            out |= self._calls_at(addr, size)
        return frozenset(out)

    def _calls_at(self, addr: int, size: int) -> set[str]:
        lo = addr - self._text_addr
        if not self._text or lo < 0:
            return set()
        code = self._text[lo : lo + size]
        out: set[str] = set()
        if self._machine == "EM_X86_64":
            for i in range(len(code) - 4):
                if code[i] == 0xE8:
                    rel = int.from_bytes(code[i + 1 : i + 5], "little", signed=True)
                    name = self._entry.get(addr + i + 5 + rel)
                    if name:
                        out.add(name)
        elif self._machine == "EM_AARCH64":
            for i in range(0, len(code) - 3, 4):
                word = int.from_bytes(code[i : i + 4], "little")
                if word >> 26 == 0b100101:
                    imm = word & 0x3FFFFFF
                    if imm & 0x2000000:
                        imm -= 1 << 26
                    name = self._entry.get(addr + i + 4 * imm)
                    if name:
                        out.add(name)
        return out


def hidden_runtime_frames(
    heap_texts: Sequence[Profile], symbolizer: Symbolizer
) -> dict[str, tuple[str, ...]]:
    """Per own frame: the hidden runtime frames of its samples, those holding most bytes first.

    Weights are in-use bytes plus a quarter of allocated bytes: a map's old bucket arrays are
    freed after growth, and sampling may have missed the live one, but the allocation records
    of earlier growth remain. Several snapshots give sampling several chances.
    """
    weight: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for prof in heap_texts:
        cols = {st.type: i for i, st in enumerate(prof.sample_types)}
        ib = cols.get("inuse_space", len(prof.sample_types) - 1)
        ab = cols.get("alloc_space")
        for i in range(prof.n_samples):
            w = float(prof.values[i, ib]) + (float(prof.values[i, ab]) / 4 if ab is not None else 0)
            if w <= 0:
                continue
            hidden: list[str] = []
            shown: list[str] = []
            for lid in prof.stack(i).tolist():
                loc = prof.location(lid)
                if loc.lines:
                    shown.extend(prof.function(ln.function_id).name for ln in loc.lines)
                elif not shown:
                    name = symbolizer.lookup(loc.address)
                    if name:
                        hidden.append(name)
            if not shown:
                continue
            site = own_frame(tuple(shown))
            for name in hidden:
                weight[site][name] += w
    return {
        site: tuple(n for n, _ in sorted(w.items(), key=lambda kv: -kv[1]))
        for site, w in weight.items()
    }


def pclntab_runtime_frames(
    heap_texts: Sequence[Profile], exe: Path
) -> dict[str, tuple[str, ...]] | None:
    """The same as ``hidden_runtime_frames``, by the inspect layer's ``.gopclntab`` classifier
    (works on stripped executables and recovers the frame the profiler's skip count drops).
    None when it is unavailable or cannot read ``exe``."""
    try:
        from leaksleuth.inspect.classify import classify_heap_stacks
        from leaksleuth.inspect.pclntab import PcTable
    except ImportError:
        return None
    weight: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    try:
        table = PcTable(exe)
        for prof in heap_texts:
            for sc in classify_heap_stacks(exe, prof, table).samples:
                if sc is None:
                    continue
                site = own_frame(tuple(sc.stack))
                for f in sc.runtime_frames:
                    weight[site][f] += sc.inuse_bytes + sc.alloc_bytes / 4
    except LeaksleuthError:
        return None
    return {
        site: tuple(n for n, _ in sorted(w.items(), key=lambda kv: -kv[1]))
        for site, w in weight.items()
    }


RUNTIME_CALL_PREFIXES = ("runtime.", "internal/runtime/", "sync.", "internal/sync.")


@dataclass(frozen=True)
class ExeFacts:
    """What the executable says about each own function of a session.

    ``runtime_frames``: hidden runtime frames of its sampled allocations, most bytes first;
    ``calls``: the runtime (and sync) functions its code calls. Saved beside a session so that
    offline analysis gives the same answer as the live one after the process is gone.
    """

    runtime_frames: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    calls: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    exe: str = ""

    def to_json_dict(self) -> dict[str, Any]:
        return {"exe": self.exe, "runtime_frames": {k: list(v) for k, v in
                                                     self.runtime_frames.items()},
                "calls": {k: list(v) for k, v in self.calls.items()}}

    @classmethod
    def from_json_dict(cls, doc: Mapping[str, Any]) -> ExeFacts:
        def table(key: str) -> dict[str, tuple[str, ...]]:
            raw = doc.get(key) or {}
            if not isinstance(raw, dict):
                raise ValueError(f"{key} must be an object")
            return {str(k): tuple(str(x) for x in v) for k, v in raw.items()}

        return cls(table("runtime_frames"), table("calls"), str(doc.get("exe", "")))


def exe_facts(series: SessionSeries, exe: Path) -> ExeFacts:
    """Read the executable once for every own allocation site of ``series``."""
    sym = Symbolizer(exe)
    if not sym:
        return ExeFacts(exe=str(exe))
    texts = [t for t in (load_safely(s.heap_text)[0] for s in series.last) if t is not None]
    frames = pclntab_runtime_frames(texts, exe)
    if frames is None:
        frames = hidden_runtime_frames(texts, sym)
    calls = {
        fn: tuple(sorted(c for c in sym.calls(fn) if c.startswith(RUNTIME_CALL_PREFIXES)))
        for fn in series.sites
        if not is_stdlib(fn)
    }
    return ExeFacts(frames, calls, str(exe))
