"""Parsers for Go's legacy text profiles: heap ``debug=1``, goroutine ``debug=1`` and ``debug=2``.

Heap ``debug=1`` (``runtime/pprof.writeHeapInternal``)::

    heap profile: 1714: 7978992 [1796: 11656512] @ heap/8192
    0: 0 [1: 16384] @ 0x6a9495 0x6a973e 0x43a8eb 0x477aa1
    #	0x6a9494	main.allocStrings+0xb4	/src/main.go:97
    ...
    # runtime.MemStats
    # Alloc = 15464808
    # Stack = 720896 / 720896
    # PauseNs = [39029 17205 0 ...]

The numbers are raw sample counts (``inuse_objs: inuse_bytes [alloc_objs: alloc_bytes]``);
``heap/N`` is ``2 * runtime.MemProfileRate`` (a C++ heap-profiler convention kept by Go;
google/pprof's legacy parser also halves it). The protobuf writer instead reports every
record already unsampled with ``scaleHeapSample``: a sampled object of average size ``s``
was picked with probability ``1 - exp(-s/rate)``, so counts and bytes are divided by that
probability and truncated to int64. We apply the same formula to each record, separately for
the alloc and the in-use pair, so text and protobuf of one moment agree (to the last unit,
but for a possible one-ulp difference between Go's ``math.Exp`` and libm's ``exp`` that can
move a truncated value by 1).

The ``@`` line holds every return PC, runtime frames included; the ``#`` lines symbolise them
but hide the leading ``runtime.*`` frames (and ``runtime.goexit``). Every ``@`` PC becomes a
``Location`` whose ``address`` is that raw return PC (symbolise ``address - 1``); PCs without
``#`` lines are locations with no lines, i.e. unsymbolised, exactly like in pprof. A ``#`` PC
is its ``@`` PC minus one, so the two lists are matched in order.
"""

from __future__ import annotations

import gc
import json
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from leaksleuth.errors import ProfileError
from leaksleuth.profile.frames import normalize_function, unsymbolized_name
from leaksleuth.profile.model import (
    Frame,
    Function,
    Goroutine,
    GoroutineDump,
    Int64Array,
    Labels,
    Line,
    Location,
    MemStats,
    Profile,
    ValueType,
)

__all__ = [
    "HEAP_SAMPLE_TYPES",
    "dump_to_profile",
    "parse_goroutine_dump",
    "parse_goroutine_text",
    "parse_heap_text",
    "parse_memstats_block",
    "scale_heap_sample",
]

INT64_MAX = (1 << 63) - 1
HEAP_SAMPLE_TYPES = (
    ValueType("alloc_objects", "count"),
    ValueType("alloc_space", "bytes"),
    ValueType("inuse_objects", "count"),
    ValueType("inuse_space", "bytes"),
)

_HEAP_HEADER = re.compile(
    r"heap profile: *(\d+): *(\d+) *\[ *(\d+): *(\d+) *\] *@ *([a-z_0-9]*)/?(\d*)\s*$"
)
_HEAP_RECORD = re.compile(r"(\d+): *(\d+) *\[ *(\d+): *(\d+) *\] *@(.*)$")
# Where a legacy (C++/tcmalloc) heap profile's records end and its memory map begins.
_MAP_SENTINELS = ("MAPPED_LIBRARIES:", "--- Memory map: ---")
_COUNT_HEADER = re.compile(r"([a-z_]+) profile: total (\d+)\s*$")
_COUNT_RECORD = re.compile(r"(\d+) @(.*)$")
_WHOLE_COUNT_RECORD = re.compile(r"\d+ @( 0x[0-9a-fA-F]+)*$")
_WHOLE_HEAP_RECORD = re.compile(r"\d+: *\d+ *\[ *\d+: *\d+ *\] *@( 0x[0-9a-fA-F]+)*$")
_LABEL_PAIR = re.compile(r'"((?:[^"\\]|\\.)*)":"((?:[^"\\]|\\.)*)"')
_MEMSTAT = re.compile(r"# ([A-Za-z][A-Za-z0-9]*) = (.*)$")
_G_HEADER = re.compile(r"goroutine (\d+)(?: [^\[]*)? \[(.*)\]:\s*$")
_MINUTES = re.compile(r"(\d+) minutes?$")


# ---------------------------------------------------------------------------------- helpers


def _decode(data: bytes, source: str) -> str:
    """Text formats are UTF-8; stray bytes (a Latin-1 file path) become U+FFFD, not a crash."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ProfileError("expected bytes", source)
    text = bytes(data).decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n") if "\r\n" in text else text  # saved on Windows


def _int(text: str, what: str, lineno: int, source: str) -> int:
    """A non-negative decimal that fits int64, or a ProfileError naming the line."""
    try:
        v = int(text, 10)
    except ValueError:
        raise ProfileError(f"line {lineno}: {what} {text[:40]!r} is not a number", source) from None
    if v < 0 or v > INT64_MAX:
        raise ProfileError(f"line {lineno}: {what} {text[:40]} is out of range", source)
    return v


def _hex(text: str, lineno: int, source: str) -> int:
    if not text.startswith(("0x", "0X")):
        raise ProfileError(f"line {lineno}: {text[:40]!r} is not a hex address", source)
    try:
        v = int(text, 16)
    except ValueError:
        raise ProfileError(f"line {lineno}: {text[:40]!r} is not a hex address", source) from None
    if v > (1 << 64) - 1:
        raise ProfileError(f"line {lineno}: address {text[:40]} is out of range", source)
    return v


def scale_heap_sample(count: int, size: int, rate: int) -> tuple[int, int]:
    """Unsample one heap record the way Go's protobuf writer does (``scaleHeapSample``).

    An allocation of average size ``avg`` is sampled with probability ``1 - exp(-avg/rate)``;
    dividing by it estimates the true count and bytes. ``rate <= 1`` means every allocation
    was recorded (or the rate is unknown): no scaling.
    """
    if count == 0 or size == 0:
        return 0, 0
    if rate <= 1:
        return count, size
    avg = size / count
    p = 1.0 - math.exp(-avg / rate)  # Go's expression, kept for bit-for-bit agreement
    if p <= 0.0:  # avg/rate below ~1e-16 (nonsense input): Go would divide by zero
        p = -math.expm1(-avg / rate)
    scale = 1.0 / p
    return _trunc(count * scale), _trunc(size * scale)


def _trunc(x: float) -> int:
    """Go's ``int64(f)``: truncation toward zero, saturated so nonsense input cannot overflow."""
    if x != x:  # NaN
        return 0
    return max(-INT64_MAX - 1, min(INT64_MAX, int(x)))


@dataclass
class _TableBuilder:
    """Interns functions and locations, hands out dense ids (id k at index k - 1)."""

    functions: list[Function] = field(default_factory=list)
    func_ids: dict[tuple[str, str], int] = field(default_factory=dict)
    loc_ids: dict[Any, int] = field(default_factory=dict)
    loc_address: list[int] = field(default_factory=list)
    loc_lines: list[tuple[Line, ...]] = field(default_factory=list)

    def function(self, name: str, filename: str) -> int:
        key = (name, filename)
        fid = self.func_ids.get(key)
        if fid is None:
            fid = len(self.functions) + 1
            self.functions.append(Function(fid, name, name, filename))
            self.func_ids[key] = fid
        return fid

    def location(self, key: Any, address: int, lines: tuple[Line, ...]) -> int:
        lid = self.loc_ids.get(key)
        if lid is None:
            lid = len(self.loc_address) + 1
            self.loc_ids[key] = lid
            self.loc_address.append(address)
            self.loc_lines.append(lines)
        elif lines and not self.loc_lines[lid - 1]:
            # the same PC is symbolised in another record (leading runtime frames are hidden
            # only while a non-runtime frame follows): keep the symbolised form
            self.loc_lines[lid - 1] = lines
        return lid

    def locations(self) -> tuple[Location, ...]:
        return tuple(
            Location(i + 1, 0, addr, lines)
            for i, (addr, lines) in enumerate(zip(self.loc_address, self.loc_lines, strict=True))
        )


@dataclass
class _Record:
    """One text record: its numbers, its raw ``@`` PCs, its ``#`` frames and labels."""

    lineno: int
    numbers: tuple[int, ...]
    pcs: list[int]
    frames: list[tuple[int, Line]] = field(default_factory=list)  # '#' lines: pc, frame
    labels: list[tuple[str, str]] = field(default_factory=list)


def _parse_frame_tail(tail: str, lineno: int, source: str) -> tuple[str, str, int]:
    """``main.f+0xb4\t/src/main.go:97`` -> (function, file, line)."""
    parts = [p for p in tail.split("\t") if p]
    fn = ""
    filename = ""
    lno = 0
    if parts:
        fn = parts[0].strip()
        k = fn.rfind("+0x")
        if k > 0:
            fn = fn[:k]
    if len(parts) >= 2:
        loc = "\t".join(parts[1:]).strip()
        filename, sep, num = loc.rpartition(":")
        if sep and num.isdigit():
            lno = _int(num, "line number", lineno, source)
        else:
            filename = loc
    return normalize_function(fn) if fn else "", filename, lno


class _FrameLines:
    """Parses ``#\t0xPC\tfunc+0xoff\tfile:line`` lines into (pc, Line).

    The text after the PC repeats across records (every stack through a function shares it),
    so it is parsed once and its ``Line`` reused: 2-3x faster on 10k-record profiles.
    """

    def __init__(self, tb: _TableBuilder, source: str) -> None:
        self.tb = tb
        self.source = source
        self.cache: dict[str, Line] = {}

    def parse(self, line: str, lineno: int) -> tuple[int, Line]:
        body = line[1:].lstrip("\t")
        k = body.find("\t")
        pc_s, tail = (body, "") if k < 0 else (body[:k], body[k + 1:])
        pc = _hex(pc_s.strip(), lineno, self.source)
        ln = self.cache.get(tail)
        if ln is None:
            fn, filename, lno = _parse_frame_tail(tail, lineno, self.source)
            ln = Line(self.tb.function(fn or unsymbolized_name(pc), filename), lno)
            if fn:
                self.cache[tail] = ln
        return pc, ln


def _pcs(tokens: list[str], lineno: int, source: str) -> list[int]:
    """The ``@`` line's hex PCs (fast path: one int() each, validated together)."""
    try:
        pcs = [int(t, 16) for t in tokens]
    except ValueError:
        bad = next(t for t in tokens if not _is_hex(t))
        raise ProfileError(f"line {lineno}: {bad[:40]!r} is not a hex address", source) from None
    if pcs and (min(pcs) < 0 or max(pcs) > (1 << 64) - 1):
        raise ProfileError(f"line {lineno}: address out of range", source)
    return pcs


def _is_hex(token: str) -> bool:
    try:
        int(token, 16)
    except ValueError:
        return False
    return True


def _unquote_go(s: str) -> str:
    """Undo Go's %q quoting of a label key or value (JSON-compatible in practice)."""
    try:
        out = json.loads(f'"{s}"')
        return out if isinstance(out, str) else s
    except ValueError:
        return s


def _stack_of(rec: _Record, tb: _TableBuilder, runtime_pcs: bool = True) -> list[int]:
    """Location ids of one record, leaf first, matching ``#`` frames to their ``@`` PCs."""
    # entries: [address, [lines...]] in stack order
    entries: list[tuple[int, list[Line]]] = [(pc, []) for pc in rec.pcs]
    j = -1  # index of the entry the previous '#' line went to
    prev_pc = -1
    for pc, line in rec.frames:
        if pc == prev_pc and j >= 0:
            entries[j][1].append(line)  # several '#' lines for one PC: inlined frames
            continue
        prev_pc = pc
        for k in range(j + 1, len(entries)):
            a = entries[k][0]
            if a - 1 == pc or a == pc:
                j = k
                entries[k][1].append(line)
                break
        else:  # not on the '@' line (hand-edited input): keep it where it was printed
            j += 1
            entries.insert(j, (pc, [line]))
    if not runtime_pcs and any(lines for _, lines in entries):
        entries = [e for e in entries if e[1]]
    return [tb.location(addr, addr, tuple(lines)) for addr, lines in entries]


def _build_profile(
    tb: _TableBuilder,
    records: list[_Record],
    sample_types: tuple[ValueType, ...],
    values: list[tuple[int, ...]],
    period_type: ValueType,
    period: int,
    num_label: tuple[str, list[int]] | None = None,
    comments: tuple[str, ...] = (),
    runtime_pcs: bool = True,
) -> Profile:
    offsets = [0]
    stack: list[int] = []
    strings: list[str] = [""]
    string_ids: dict[str, int] = {"": 0}

    def sid(s: str) -> int:
        k = string_ids.get(s)
        if k is None:
            k = string_ids[s] = len(strings)
            strings.append(s)
        return k

    sl_sample: list[int] = []
    sl_key: list[int] = []
    sl_value: list[int] = []
    for i, rec in enumerate(records):
        stack.extend(_stack_of(rec, tb, runtime_pcs))
        offsets.append(len(stack))
        for k, v in rec.labels:
            sl_sample.append(i)
            sl_key.append(sid(k))
            sl_value.append(sid(v))
    nl = Labels()
    if num_label is not None:
        key, nums = num_label
        rows = [i for i, v in enumerate(nums) if v != 0]
        kid = sid(key)
        nl = Labels(
            sample=_arr(rows),
            key=_arr([kid] * len(rows)),
            value=_arr([nums[i] for i in rows]),
            unit=_arr([0] * len(rows)),
        )
    sl = Labels(
        sample=_arr(sl_sample),
        key=_arr(sl_key),
        value=_arr(sl_value),
        unit=_arr([0] * len(sl_sample)),
    )
    vals = np.array(values, dtype=np.int64).reshape(len(records), len(sample_types))
    return Profile(
        sample_types=sample_types,
        values=vals,
        stack_offsets=np.array(offsets, dtype=np.int64),
        stack_locations=np.array(stack, dtype=np.int64),
        locations=tb.locations(),
        functions=tuple(tb.functions),
        strings=tuple(strings),
        str_labels=sl,
        num_labels=nl,
        period_type=period_type,
        period=period,
        comments=comments,
    )


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while a parser builds millions of acyclic objects.

    Measured on a 10k-record heap text: 0.62 s -> 0.28 s; 100k-goroutine dump 2.2 s -> 1.6 s
    (gen-2 collections otherwise rescan everything built so far).
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _arr(values: list[int]) -> Int64Array:
    return np.array(values, dtype=np.int64)


def _complete(text: str, source: str, record_re: re.Pattern[str] | None = None) -> str:
    """Go ends every text profile with a newline: without one the file was cut off.

    ``record_re``: a last line without its newline is still accepted when it is a whole record
    (``go tool pprof`` reads such hand-saved files); a cut frame or MemStats line is not.
    """
    if text and not text.endswith("\n"):
        last = text[text.rfind("\n") + 1:].strip()
        if record_re is None or not record_re.match(last):
            raise ProfileError("truncated: the last line is incomplete", source)
    return text


def _lines(text: str) -> Iterator[tuple[int, str]]:
    for i, line in enumerate(text.split("\n"), 1):
        yield i, line.rstrip("\r")


def _open_text(data: bytes, source: str, header_re: re.Pattern[str], wrong_format: str,
               record_re: re.Pattern[str] | None = None,
               ) -> tuple[Iterator[tuple[int, str]], re.Match[str]]:
    """Decode a text profile and match its header (the first non-blank line, stripped).

    Returns the numbered lines after the header and the header's match. ``ProfileError``
    with ``wrong_format`` when the header does not match, then as ``_complete`` says.
    """
    text = _decode(data, source)
    it = _lines(text)
    header = ""
    for _lineno, line in it:
        if line.strip():
            header = line.strip()
            break
    m = header_re.match(header)
    if not m:
        raise ProfileError(wrong_format, source)
    _complete(text, source, record_re)
    return it, m


# ---------------------------------------------------------------------------------- MemStats

_FLOAT_FIELDS = frozenset({"GCCPUFraction"})
_PAIRED = {  # "# Stack = inuse / sys" lines stand for two struct fields
    "Stack": ("StackInuse", "StackSys"),
    "MSpan": ("MSpanInuse", "MSpanSys"),
    "MCache": ("MCacheInuse", "MCacheSys"),
}


def _memstat_value(raw: str, name: str, lineno: int, source: str) -> Any:
    raw = raw.strip()
    if raw in ("true", "false"):
        return raw == "true"
    if raw.startswith("["):
        if not raw.endswith("]"):
            raise ProfileError(f"line {lineno}: {name} array is cut off (truncated file?)", source)
        return [_int(x, name, lineno, source) for x in raw[1:-1].split()]
    if re.fullmatch(r"\d+", raw):
        return _int(raw, name, lineno, source)
    try:
        f = float(raw)
    except ValueError:
        raise ProfileError(f"line {lineno}: {name} = {raw[:40]!r} is not a value", source) from None
    if not math.isfinite(f):
        raise ProfileError(f"line {lineno}: {name} = {raw[:40]!r} is not finite", source)
    return f


def parse_memstats_block(lines: list[tuple[int, str]], source: str) -> MemStats:
    """The ``# runtime.MemStats`` trailer, field by field, with Go's field names.

    The text prints ``Stack``, ``MSpan`` and ``MCache`` as ``inuse / sys`` pairs: they are
    split back into ``StackInuse``/``StackSys`` and so on. Two struct fields are not printed
    and are derived only where that is exact: ``PauseTotalNs`` (the sum of ``PauseNs`` while
    ``NumGC <= 256``, before the ring buffer wraps) and ``EnableGC`` (always true, per the
    runtime docs). ``BySize`` is not printed and stays absent. ``MaxRSS`` (not a struct field)
    is kept too.
    """
    raw: dict[str, Any] = {}
    for lineno, line in lines:
        m = _MEMSTAT.match(line)
        if not m:
            if line.strip() in ("", "#"):
                continue
            raise ProfileError(f"line {lineno}: unexpected MemStats line {line[:60]!r}", source)
        name, value = m.group(1), m.group(2)
        if name in _PAIRED:
            a, sep, b = value.partition("/")
            if not sep:
                raise ProfileError(f"line {lineno}: {name} needs 'inuse / sys'", source)
            inuse, sys_ = _PAIRED[name]
            raw[inuse] = _int(a.strip(), name, lineno, source)
            raw[sys_] = _int(b.strip(), name, lineno, source)
        else:
            v = _memstat_value(value, name, lineno, source)
            if name in _FLOAT_FIELDS and isinstance(v, int) and not isinstance(v, bool):
                v = float(v)  # Go's %v prints a float64 zero as "0"
            raw[name] = v
    pause = raw.get("PauseNs")
    num_gc = raw.get("NumGC")
    if (
        "PauseTotalNs" not in raw
        and isinstance(pause, list)
        and isinstance(num_gc, int)
        and num_gc <= len(pause)
    ):
        raw["PauseTotalNs"] = sum(pause)
    if raw:
        raw.setdefault("EnableGC", True)
    return MemStats.from_mapping(raw)


# ---------------------------------------------------------------------------------- heap


# Header kinds ``go tool pprof`` reads, with how they sample: Go's own ``heap`` header carries
# 2 * MemProfileRate; ``heap_v2``/``heapz_v2`` the rate itself; the rest are unsampled.
_HEAP_KINDS = {"heap": "half", "heap_v2": "rate", "heapz_v2": "rate", "heapprofile": "none",
               "growthz": "none", "growth": "none", "fragmentationz": "none",
               "fragmentation": "none"}


def _parse_heap_text(data: bytes, source: str, *, runtime_pcs: bool = True
                    ) -> tuple[Profile, MemStats | None]:
    """Heap ``debug=1`` text -> (profile with the four protobuf sample types, MemStats).

    ``runtime_pcs=False`` drops the unsymbolised (runtime) PCs from the stacks: the view
    pprof's protobuf gives, for ``top`` and friends. The default keeps every raw PC.

    What ``go tool pprof`` reads is read: indented records, the legacy kinds of
    ``_HEAP_KINDS``, a trailing memory map (skipped: symbolisation here is by executable).
    The header's totals are not checked against the records: older runtimes and other
    writers put whole-process allocation totals there. A disagreement is kept as a comment.
    """
    it, m = _open_text(data, source, _HEAP_HEADER,
                       "not a heap debug=1 profile (no 'heap profile: ...' header)",
                       _WHOLE_HEAP_RECORD)
    totals = [_int(m.group(i), "total", 1, source) for i in (1, 2, 3, 4)]
    kind, period_s = m.group(5), m.group(6)
    period = _int(period_s, "sampling period", 1, source) if period_s else 0
    sampling = _HEAP_KINDS.get(kind)
    if sampling is None:
        raise ProfileError(f"unsupported heap profile kind {kind!r}", source)
    rate = period // 2 if sampling == "half" else period if sampling == "rate" else 1
    # pprof's rule: the alloc pair means something only when the header's differs from in-use
    has_alloc = (totals[2] not in (totals[0], 0)) or (totals[3] not in (totals[1], 0))

    records: list[_Record] = []
    tb = _TableBuilder()
    frames = _FrameLines(tb, source)
    memstat_lines: list[tuple[int, str]] = []
    in_memstats = False
    cur: _Record | None = None
    for lineno, raw in it:
        if in_memstats:
            memstat_lines.append((lineno, raw))
            continue
        line = raw.strip()
        if not line:
            cur = None
            continue
        if line.startswith("#"):
            if line.startswith("# runtime.MemStats"):
                in_memstats = True
                cur = None
            elif raw.lstrip(" ").startswith("#\t") and cur is not None:
                cur.frames.append(frames.parse(raw.lstrip(" "), lineno))
            elif raw.lstrip(" ").startswith("#\t"):
                raise ProfileError(f"line {lineno}: frame line outside a record", source)
            continue
        if line in _MAP_SENTINELS:
            break
        rm = _HEAP_RECORD.match(line)
        if not rm:
            raise ProfileError(f"line {lineno}: not a heap record: {line[:60]!r}", source)
        nums = tuple(_int(rm.group(i), "count", lineno, source) for i in (1, 2, 3, 4))
        for what, (c, b) in (("in-use", nums[:2]), ("allocation", nums[2:])):
            if c == 0 and b != 0 and (what == "in-use" or has_alloc):
                raise ProfileError(f"line {lineno}: {what} count is 0 but its bytes are {b}",
                                   source)
        pcs = _pcs(rm.group(5).split(), lineno, source)
        cur = _Record(lineno, nums, pcs)
        records.append(cur)

    sums = [sum(r.numbers[i] for r in records) for i in range(4)]
    comments: tuple[str, ...] = ()
    if sums != totals:
        comments = (f"header totals {totals[0]}: {totals[1]} [{totals[2]}: {totals[3]}] differ "
                    f"from the records' sums {sums[0]}: {sums[1]} [{sums[2]}: {sums[3]}]",)

    values: list[tuple[int, ...]] = []
    sizes: list[int] = []
    for r in records:
        inuse_o, inuse_b, alloc_o, alloc_b = r.numbers
        ao, ab = scale_heap_sample(alloc_o, alloc_b, rate)
        io, ib = scale_heap_sample(inuse_o, inuse_b, rate)
        values.append((ao, ab, io, ib))
        # the object size, as Go's protobuf writer labels it (from the allocation pair)
        sizes.append(alloc_b // alloc_o if alloc_o > 0 else inuse_b // inuse_o if inuse_o else 0)
    profile = _build_profile(
        tb,
        records,
        HEAP_SAMPLE_TYPES,
        values,
        ValueType("space", "bytes"),
        rate,
        num_label=("bytes", sizes),
        comments=comments,
        runtime_pcs=runtime_pcs,
    )
    memstats = parse_memstats_block(memstat_lines, source) if in_memstats else None
    return profile, memstats


# ------------------------------------------------------------------------ goroutine debug=1


def _parse_goroutine_text(data: bytes, source: str, *, runtime_pcs: bool = True) -> Profile:
    """Goroutine ``debug=1`` text (or any ``NAME profile: total N`` count profile).

    ``runtime_pcs`` as in ``parse_heap_text``.
    """
    it, m = _open_text(data, source, _COUNT_HEADER,
                       "not a goroutine debug=1 profile (no 'profile: total N')",
                       _WHOLE_COUNT_RECORD)
    name = m.group(1)
    total = _int(m.group(2), "total", 1, source)
    records: list[_Record] = []
    tb = _TableBuilder()
    frames = _FrameLines(tb, source)
    cur: _Record | None = None
    for lineno, raw in it:
        line = raw.strip(" ")
        if not line.strip():
            cur = None
            continue
        if line.startswith("---"):  # a legacy trailer (memory map): no more records
            break
        if line.startswith("#"):
            if cur is None:
                continue
            if line.startswith("# labels:"):
                cur.labels.extend(
                    (_unquote_go(k), _unquote_go(v))
                    for k, v in _LABEL_PAIR.findall(line[len("# labels:"):])
                )
            elif line.startswith("#\t"):
                cur.frames.append(frames.parse(line, lineno))
            continue
        rm = _COUNT_RECORD.match(line)
        if not rm:
            raise ProfileError(f"line {lineno}: not a count record: {line[:60]!r}", source)
        count = _int(rm.group(1), "count", lineno, source)
        pcs = _pcs(rm.group(2).split(), lineno, source)
        cur = _Record(lineno, (count,), pcs)
        records.append(cur)
    got = sum(r.numbers[0] for r in records)
    if got != total:
        raise ProfileError(
            f"records add up to {got} goroutines but the header says total {total} "
            "(truncated or edited?)",
            source,
        )
    vt = ValueType(name, "count")
    return _build_profile(tb, records, (vt,), [r.numbers for r in records], vt, 1,
                          runtime_pcs=runtime_pcs)


# ------------------------------------------------------------------------ goroutine debug=2


def _parse_state(inside: str) -> tuple[str, int, bool]:
    """``chan receive, 3 minutes, locked to thread`` -> (state, minutes, locked)."""
    parts = inside.split(", ")
    state = [parts[0]]
    minutes = 0
    locked = False
    for p in parts[1:]:
        mm = _MINUTES.fullmatch(p)
        if mm and len(mm.group(1)) <= 18:
            minutes = int(mm.group(1))
        elif p == "locked to thread":
            locked = True
        else:  # extra words ("synctest bubble 3", future wait details): part of the state
            state.append(p)
    return ", ".join(state), minutes, locked


def _parse_location(line: str) -> tuple[str, int, int]:
    """``\\t/src/main.go:41 +0x1c`` -> (file, line, pc offset)."""
    s = line.strip()
    off = 0
    k = s.rfind(" +0x")
    if k >= 0:
        try:
            off = int(s[k + 4:], 16)
        except ValueError:
            off = 0
        s = s[:k]
    filename, sep, num = s.rpartition(":")
    if sep and num.isdigit() and len(num) <= 18:
        return filename, int(num), off
    return s, 0, off


def _parse_goroutine_dump(data: bytes, source: str) -> GoroutineDump:
    """Goroutine ``debug=2`` dump: every goroutine with state, wait, frames and creator.

    A dump cut off mid-line (``runtime.Stack`` into a full buffer) keeps every complete line
    and sets ``truncated``. Frames after ``[originating from goroutine N]`` belong to an
    ancestor (``GODEBUG=tracebackancestors``) and are not this goroutine's stack.
    ``...additional frames elided...`` is dropped: the stack is as printed (Go prints at most
    100 frames).
    """
    text = _decode(data, source)
    truncated = False
    if text and not text.endswith("\n"):
        cut = text.rfind("\n")
        text = text[: cut + 1] if cut >= 0 else ""
        truncated = True
    # Per-line caches: 100k goroutines share a handful of distinct lines, so parsing each
    # distinct line once (and interning Frame objects and frame tuples) is what keeps a
    # 100k-goroutine dump near one second.
    state_cache: dict[str, tuple[str, int, bool]] = {}
    loc_cache: dict[str, tuple[str, int, int]] = {}
    frame_cache: dict[tuple[str, str], Frame] = {}
    stack_cache: dict[tuple[Frame, ...], tuple[Frame, ...]] = {}
    goroutines: list[Goroutine] = []
    lineno = 1
    for block in text.split("\n\n"):
        lines = block.split("\n")
        start = lineno
        lineno += len(lines) + 1
        while lines and not lines[0].strip():
            lines.pop(0)
            start += 1
        if not lines:
            continue
        hm = _G_HEADER.match(lines[0])
        if not hm:
            raise ProfileError(
                f"line {start}: expected 'goroutine N [state]:', got {lines[0][:60]!r}", source
            )
        gid_s, inside = hm.group(1), hm.group(2)
        if len(gid_s) > 18:
            raise ProfileError(f"line {start}: goroutine id {gid_s[:40]} is out of range", source)
        st = state_cache.get(inside)
        if st is None:
            st = state_cache[inside] = _parse_state(inside)
        frames: list[Frame] = []
        created_by: Frame | None = None
        creator: int | None = None
        i = 1
        n = len(lines)
        while i < n:
            ln = lines[i]
            i += 1
            if not ln.strip():
                continue
            if ln.startswith("\t"):  # a location line without its function line
                continue
            if ln.startswith("[originating from goroutine"):
                break
            if ln.startswith("...") or ln.startswith("goroutine running on other thread"):
                continue
            loc_line = ""
            if i < n and lines[i].startswith("\t"):
                loc_line = lines[i]
                i += 1
            key = (ln, loc_line)
            if ln.startswith("created by "):
                rest = ln[len("created by "):]
                k = rest.rfind(" in goroutine ")
                if k >= 0 and rest[k + 14:].strip().isdigit() and len(rest[k + 14:]) <= 19:
                    creator = int(rest[k + 14:])
                fr = frame_cache.get(key)
                if fr is None:
                    cloc = _parse_location(loc_line)
                    fr = frame_cache[key] = Frame(normalize_function(ln), *cloc)
                created_by = fr
                continue
            fr = frame_cache.get(key)
            if fr is None:
                loc = loc_cache.get(loc_line)
                if loc is None:
                    loc = loc_cache[loc_line] = _parse_location(loc_line)
                fr = frame_cache[key] = Frame(normalize_function(ln), *loc)
            frames.append(fr)
        tup = tuple(frames)
        tup = stack_cache.setdefault(tup, tup)
        goroutines.append(
            Goroutine(int(gid_s), st[0], st[1], st[2], tup, created_by, creator)
        )
    if not goroutines:
        raise ProfileError("no goroutines in the dump (empty or cut off)", source)
    return GoroutineDump(tuple(goroutines), truncated)


def dump_to_profile(dump: GoroutineDump) -> Profile:
    """Count goroutines per identical stack: the dump as a protobuf-style goroutine profile.

    A frame printed without ``+0x..`` is inlined into the next one; such runs become one
    location with several lines, as in the protobuf. ``created by`` is not part of the stack
    (the protobuf ends at ``runtime.goexit``), so goroutines that differ only in their
    creator are counted together.
    """
    tb = _TableBuilder()
    counts: dict[tuple[Frame, ...], int] = {}
    for g in dump.goroutines:
        counts[g.frames] = counts.get(g.frames, 0) + 1
    offsets = [0]
    stack: list[int] = []
    values: list[int] = []
    for frames, count in sorted(counts.items(), key=lambda kv: -kv[1]):
        pending: list[Frame] = []
        last = len(frames) - 1
        for k, fr in enumerate(frames):
            pending.append(fr)
            if fr.pc_offset or k == last:
                key = tuple(pending)
                lines = tuple(Line(tb.function(f.function, f.file), f.line) for f in pending)
                stack.append(tb.location(key, 0, lines))
                pending = []
        offsets.append(len(stack))
        values.append(count)
    vt = ValueType("goroutine", "count")
    return Profile(
        sample_types=(vt,),
        values=np.array(values, dtype=np.int64).reshape(-1, 1),
        stack_offsets=np.array(offsets, dtype=np.int64),
        stack_locations=np.array(stack, dtype=np.int64),
        locations=tb.locations(),
        functions=tuple(tb.functions),
        period_type=vt,
        period=1,
    )


def parse_heap_text(data: bytes, source: str, *, runtime_pcs: bool = True
                    ) -> tuple[Profile, MemStats | None]:
    """Heap ``debug=1`` text -> (profile with the four protobuf sample types, MemStats).

    Every ``@`` PC is a location (``address`` = the raw return PC, runtime frames included);
    ``runtime_pcs=False`` drops the unsymbolised ones from the stacks, which is the view the
    protobuf gives (``formats.load_profile`` uses it for ``top``).
    """
    with _gc_paused():
        return _parse_heap_text(data, source, runtime_pcs=runtime_pcs)


def parse_goroutine_text(data: bytes, source: str, *, runtime_pcs: bool = True) -> Profile:
    """Goroutine ``debug=1`` text (or any ``NAME profile: total N`` count profile).

    ``runtime_pcs`` as in ``parse_heap_text``.
    """
    with _gc_paused():
        return _parse_goroutine_text(data, source, runtime_pcs=runtime_pcs)


def parse_goroutine_dump(data: bytes, source: str) -> GoroutineDump:
    """Goroutine ``debug=2`` dump: every goroutine with state, wait, frames and creator.

    A dump cut off mid-line keeps every complete line and sets ``truncated``.
    """
    with _gc_paused():
        return _parse_goroutine_dump(data, source)
