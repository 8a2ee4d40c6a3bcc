"""Read pprof protobuf (google/pprof ``proto/profile.proto``) as a ``Profile``.

The loops over the bytes are C (``_wire.c``): finding the top-level fields, decoding the
small messages (functions, mappings, locations) and decoding a batch of samples into the
model's columns. On the 1M-sample deep heap profile of benchmarks/parse_bench.py, streaming
every sample takes 0.25 s of CPU after gunzip against 1.8 s for a numpy decoder (a
byte-parallel varint decode); protobuf libraries would build a Python object per sample.
Python keeps the tables (names, renumbering) and the errors: anything the C loops do not take
is decoded again by the per-message Python walk below, which names the problem and is the
reference the tests compare the C decoder against.

Names that are not valid UTF-8 are decoded with ``errors="replace"`` (U+FFFD): every renderer
(terminal, JSON, HTML) can then print them, at the cost of not round-tripping the raw bytes.
"""

from __future__ import annotations

import dataclasses
import mmap
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from leaksleuth.errors import ProfileError
from leaksleuth.profile import _wire
from leaksleuth.profile.gunzip import gunzip_owned
from leaksleuth.profile.model import (
    Function,
    Int64Array,
    Labels,
    Line,
    Location,
    Mapping,
    Profile,
    ValueType,
)

U64 = NDArray[np.uint64]
# the protobuf bytes: bytes, or an owned anonymous map whose pages are released once read
Buf = bytes | mmap.mmap
_TWO64 = 1 << 64
_TWO63 = 1 << 63
_MASK64 = _TWO64 - 1
# Sample bytes per batch of iter_pprof_file (a few chunks): big enough that the per-batch
# steps of an analysis cost little Python, small enough that a batch's stacks stay small.
_BATCH_BYTES = 1 << 18


class _Malformed(Exception):
    """Internal: bad wire data; converted to ProfileError with the source name."""


class _Unusual(Exception):
    """Internal: valid but unexpected sample encoding; use the per-message decoder."""


class _Releaser:
    """Gives back the pages of an owned map below a position (MADV_DONTNEED) as the sample
    decoder moves through the file: the decompressed protobuf then no longer sits next to the
    stacks decoded from it."""

    def __init__(self, mm: mmap.mmap) -> None:
        self.mm = mm
        self.done = 0  # bytes below this were released

    def upto(self, pos: int) -> None:
        pos -= pos % mmap.PAGESIZE
        if pos > self.done:
            self.mm.madvise(mmap.MADV_DONTNEED, self.done, pos - self.done)
            self.done = pos

    def beyond(self, pos: int) -> None:
        """Release everything from ``pos`` on (never read again)."""
        pos += -pos % mmap.PAGESIZE
        if pos < len(self.mm):
            self.mm.madvise(mmap.MADV_DONTNEED, pos, len(self.mm) - pos)


# ---------------------------------------------------------------------------------------------
# scalar wire decoding


def _varint(buf: Buf, pos: int) -> tuple[int, int]:
    """Decode one varint at ``pos``; return (value, next position)."""
    try:
        b = buf[pos]
        if b < 0x80:
            return b, pos + 1
        result = b & 0x7F
        shift = 7
        pos += 1
        while True:
            b = buf[pos]
            result |= (b & 0x7F) << shift
            pos += 1
            if b < 0x80:
                if result >= _TWO64:
                    raise _Malformed("varint overflows 64 bits")
                return result, pos
            shift += 7
            if shift >= 70:
                raise _Malformed("varint longer than 10 bytes")
    except IndexError:
        raise _Malformed("truncated varint") from None


def _signed(v: int) -> int:
    return v - _TWO64 if v >= _TWO63 else v


def _fields(buf: Buf, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """Fields of the message in ``buf[start:end]`` as (number, wire type, a, b).

    For varints ``a`` is the value; for length-delimited fields ``buf[a:b]`` is the payload;
    fixed32/64 are skipped but reported with their byte span.
    """
    out: list[tuple[int, int, int, int]] = []
    pos = start
    while pos < end:
        tag, pos = _varint(buf, pos)
        fno, wt = tag >> 3, tag & 7
        if fno == 0:
            raise _Malformed("field number 0")
        if wt == 0:
            v, pos = _varint(buf, pos)
            out.append((fno, 0, v, 0))
            continue
        if wt == 2:
            n, pos = _varint(buf, pos)
            a, pos = pos, pos + n
            out.append((fno, 2, a, pos))
        elif wt == 1:
            a, pos = pos, pos + 8
            out.append((fno, 1, a, pos))
        elif wt == 5:
            a, pos = pos, pos + 4
            out.append((fno, 5, a, pos))
        else:
            raise _Malformed(f"unsupported wire type {wt} (field {fno})")
        if pos > end:
            raise _Malformed(f"field {fno} runs past the end of its message")
    if pos != end:
        raise _Malformed("message ends inside a field")
    return out


def _packed(buf: Buf, a: int, b: int) -> list[int]:
    out: list[int] = []
    pos = a
    while pos < b:
        v, pos = _varint(buf, pos)
        out.append(v)
    if pos != b:
        raise _Malformed("packed varints run past their field")
    return out


def _ints(buf: Buf, wt: int, a: int, b: int, what: str) -> list[int]:
    """A repeated integer field occurrence, packed (wire type 2) or not (wire type 0)."""
    if wt == 0:
        return [a]
    if wt == 2:
        return _packed(buf, a, b)
    raise _Malformed(f"{what}: wire type {wt} where integers were expected")


def _int(wt: int, a: int, what: str) -> int:
    if wt != 0:
        raise _Malformed(f"{what}: wire type {wt} where a varint was expected")
    return a


def _span(wt: int, a: int, b: int, what: str) -> tuple[int, int]:
    if wt != 2:
        raise _Malformed(f"{what}: wire type {wt} where a message was expected")
    return a, b


def _varint_fields(buf: Buf, a: int, b: int, what: tuple[str, ...]) -> list[int]:
    """Varint fields 1..len(what) of the message ``buf[a:b]`` as ``r[1..]`` (0 when absent;
    the last occurrence wins; other fields are skipped); ``what[k - 1]`` names field k."""
    r = [0] * (len(what) + 1)
    for f, wt, x, _y in _fields(buf, a, b):
        if 1 <= f <= len(what):
            r[f] = _int(wt, x, what[f - 1])
    return r


# ---------------------------------------------------------------------------------------------
# sample decoding


@dataclass
class _SampleCols:
    """Decoded samples with ids as written (not yet renumbered)."""

    loc_ids: U64
    loc_counts: Int64Array
    values: U64
    value_counts: Int64Array
    lab_sample: Int64Array
    lab_key: U64
    lab_str: U64
    lab_num: U64
    lab_unit: U64


@dataclass
class _FastSamples:
    stack_locations: Int64Array  # dense ids if a lookup table was given, else raw ids
    loc_counts: Int64Array
    values: Int64Array  # (n, ntypes)
    lab_sample: Int64Array
    lab_key: U64
    lab_str: U64
    lab_num: U64
    lab_unit: U64


def _decode_samples_fast(
    buf: Buf, h: Int64Array, ba: Int64Array, bb: Int64Array, ntypes: int,
    lut: Int64Array | None,
) -> _FastSamples:
    """Decode the samples whose bodies are ``buf[ba:bb]`` in C (``_wire.decode``); location
    ids are mapped through ``lut`` when given (0 for ids it does not know). Anything the C
    loop does not take (malformed or unusual samples) raises ``_Unusual``: the reference
    decoder then reads them or names the problem."""
    n = len(ba)
    ba = np.ascontiguousarray(ba, np.int64)
    bb = np.ascontiguousarray(bb, np.int64)
    body = int((bb - ba).sum()) if n else 0
    # upper bounds: a location id per body byte, a label per two; np.empty maps pages
    # lazily, so only the part written costs memory
    loc_out = np.empty(max(body, 1), np.int64)
    val_out = np.empty((n, ntypes), np.int64)
    counts = np.empty(n, np.int64)
    lab_cap = max(body // 2, 1)
    lab = np.empty((5, lab_cap), np.int64)
    got = _wire.decode(buf, ba, bb, ntypes,
                       None if lut is None else np.ascontiguousarray(lut, np.int64),
                       loc_out, val_out, counts, lab)
    if isinstance(got, int):  # -1: not for the C loop
        raise _Unusual()
    nloc, nlab = got
    cols = [lab[k, :nlab].copy() for k in range(5)]
    del lab
    # the unwritten tail of loc_out was never touched: no memory to give back by copying
    return _FastSamples(loc_out[:nloc], counts, val_out, cols[0],
                        *(c.view(np.uint64) for c in cols[1:]))


def _decode_samples_slow(buf: Buf, spans: list[tuple[int, int]]) -> _SampleCols:
    """Per-message reference decoder for samples (any valid encoding)."""
    locs: list[int] = []
    loc_counts: list[int] = []
    values: list[int] = []
    value_counts: list[int] = []
    lab: list[tuple[int, int, int, int, int]] = []
    for i, (a, b) in enumerate(spans):
        nl = len(locs)
        nvals = len(values)
        for fno, wt, x, y in _fields(buf, a, b):
            if fno == 1:
                locs.extend(_ints(buf, wt, x, y, "sample.location_id"))
            elif fno == 2:
                values.extend(_ints(buf, wt, x, y, "sample.value"))
            elif fno == 3:
                x, y = _span(wt, x, y, "sample.label")
                _, key, s, num, unit = _varint_fields(buf, x, y, _LABEL_WHAT)
                lab.append((i, key, s, num, unit))
        loc_counts.append(len(locs) - nl)
        value_counts.append(len(values) - nvals)

    def u64(x: list[int]) -> U64:
        return np.array(x, dtype=np.uint64)

    cols: list[list[int]] = [[r[k] for r in lab] for k in range(5)]
    return _SampleCols(
        u64(locs), np.array(loc_counts, np.int64), u64(values), np.array(value_counts, np.int64),
        np.array(cols[0], np.int64), u64(list(cols[1])), u64(list(cols[2])), u64(list(cols[3])),
        u64(list(cols[4])),
    )


# ---------------------------------------------------------------------------------------------
# the profile


def _renumber(ids: list[int], what: str) -> dict[int, int]:
    """Original id -> dense id (1-based, in file order); duplicate or zero ids are errors."""
    out: dict[int, int] = {}
    for i, x in enumerate(ids, 1):
        if x == 0:
            raise _Malformed(f"{what} with id 0")
        if x in out:
            raise _Malformed(f"duplicate {what} id {x}")
        out[x] = i
    return out


def _lookup_table(table: dict[int, int]) -> Int64Array | None:
    """Original id -> dense id as an array (0 = dangling), when ids are nearly dense."""
    if not table:
        return np.zeros(1, np.int64)
    top = max(table)
    if top >= 4 * len(table) + 4096:
        return None
    lut = np.zeros(top + 2, np.int64)  # the last slot catches clipped out-of-range ids
    lut[np.fromiter(table.keys(), np.int64, len(table))] = np.fromiter(
        table.values(), np.int64, len(table)
    )
    return lut


def _map_ids(ids: U64, table: dict[int, int], what: str) -> Int64Array:
    """Vectorised original-id -> dense-id mapping; ids not in ``table`` are dangling."""
    if len(ids) == 0:
        return np.zeros(0, np.int64)
    if not table:
        raise _Malformed(f"sample refers to {what} {int(ids[0])}, which does not exist")
    top = max(table)
    if top < 4 * len(table) + 4096:  # ids are nearly dense (Go writes 1..n): a lookup table
        lut = np.zeros(top + 2, np.int64)
        lut[np.fromiter(table.keys(), np.int64, len(table))] = np.fromiter(
            table.values(), np.int64, len(table)
        )
        out: Int64Array = lut[np.minimum(ids, np.uint64(top + 1)).astype(np.int64)]
        bad = out == 0
    else:
        keys = np.array(sorted(table), dtype=np.uint64)
        dense = np.array([table[int(k)] for k in keys], dtype=np.int64)
        pos_c = np.minimum(np.searchsorted(keys, ids), len(keys) - 1)
        bad = keys[pos_c] != ids
        out = dense[pos_c]
    if np.any(bad):
        first = int(ids[np.flatnonzero(bad)[0]])
        raise _Malformed(f"sample refers to {what} {first}, which does not exist")
    return out


def parse_pprof(data: bytes, source: str = "<bytes>") -> Profile:
    """Parse uncompressed pprof protobuf bytes; raise ``ProfileError`` on anything malformed."""
    try:
        return _parse(bytes(data))
    except _Malformed as exc:
        raise ProfileError(f"malformed pprof protobuf: {exc}", source) from None
    except _NotProfile as exc:
        raise ProfileError(f"not a pprof profile: {exc}", source) from None


def read_pprof_file(path: str) -> Profile:
    """``formats.read_profile`` for a gzipped protobuf file, at a lower peak memory.

    The file is decompressed a piece at a time into a map this function owns, whose pages are
    released as the sample decoder passes them. Anything else, and any error (so that its
    message is the usual one), goes through ``formats.read_profile``.
    """
    from leaksleuth.profile import formats

    mm = gunzip_owned(path)
    if mm is not None:
        try:
            if formats.detect(mm[:256], path) is formats.Format.PPROF:
                p = _parse(mm, _Releaser(mm))
                _trim_heap()
                return p
        except (_Malformed, _NotProfile, ProfileError):
            pass
        finally:
            del mm
    return formats.read_profile(path)


@dataclass(frozen=True, eq=False)
class StackSpans:
    """A gzipped profile decompressed, its samples' stacks left where they lie: the tables,
    every sample's values, and where its packed location ids are in ``buf``
    (``buf[loc_a[i]:loc_b[i]]``: packed, or when ``unpacked[i]`` fields of one id each; ids as
    written, dense through ``lut``), every id checked.
    A walk over stacks that stops early (the flame tree's) then decodes only what it reads."""

    buf: mmap.mmap
    tables: Profile  # the whole profile but its samples
    values: Int64Array  # (samples, sample types)
    loc_a: Int64Array
    loc_b: Int64Array
    unpacked: NDArray[np.uint8]
    lut: Int64Array  # location id as written -> dense id (the last slot: ids past the end)


def stack_spans(path: str) -> StackSpans | None:
    """``path`` as ``StackSpans``; None for anything else (not a gzipped protobuf, sparse
    location ids, an encoding other than Go's, any problem): the caller then reads the file
    with ``formats.read_profile``, which names any problem."""
    from leaksleuth.profile import formats

    mm = gunzip_owned(path)
    if mm is None:
        return None
    try:
        if formats.detect(mm[:256], path) is not formats.Format.PPROF:
            return None
        lay = _scan(mm)
    except (_Malformed, _NotProfile, ProfileError):
        return None
    if lay.lut is None:
        return None
    n, ntypes = len(lay.heads), len(lay.tables.sample_types)
    values = np.empty((n, ntypes), np.int64)
    loc_a, loc_b = np.empty(n, np.int64), np.empty(n, np.int64)
    unpacked = np.empty(n, np.uint8)
    lut = np.ascontiguousarray(lay.lut, np.int64)
    if _wire.spans(mm, lay.body_a, lay.body_b, ntypes, lut, len(lay.loc_map),
                   len(lay.tables.strings), values, loc_a, loc_b, unpacked):
        return None
    return StackSpans(mm, lay.tables, values, loc_a, loc_b, unpacked, lut)


class BatchesAbandoned(Exception):
    """``iter_pprof_file`` met, after yielding batches, what only the whole-file reader handles
    (an unusual sample encoding, or an error it names): start again with ``read_profile``."""


def iter_pprof_file(path: str, batch_bytes: int | None = None,
                    part: tuple[float, float] | None = None) -> Iterator[Profile]:
    """The samples of the profile file ``path``, a batch of ~``batch_bytes`` at a time
    (default ``_BATCH_BYTES``).

    Every batch is a whole ``Profile`` with some of the samples (in file order) and the same
    tables (the very same tuples), so per-sample analyses can fold over batches without ever
    holding every stack. A file this reader cannot stream (text formats, plain protobuf, any
    problem found before the first batch) comes whole, as one batch, from ``read_profile``
    (which names any problem); one found later raises ``BatchesAbandoned``.

    ``part=(lo, hi)``: only the samples whose bytes start in that fraction of all sample
    bytes (two processes can then share a file); at least one batch (maybe without samples)
    comes, and a file that cannot be streamed raises ``BatchesAbandoned`` instead.
    """
    from leaksleuth.profile import formats

    mm = gunzip_owned(path)
    lay: _Layout | None = None
    if mm is not None:
        try:
            if formats.detect(mm[:256], path) is formats.Format.PPROF:
                lay = _scan(mm)
        except (_Malformed, _NotProfile, ProfileError):
            lay = None
    if mm is None or lay is None:
        del mm
        if part is not None:
            raise BatchesAbandoned(path)
        yield formats.read_profile(path)
        return
    step = batch_bytes or _BATCH_BYTES
    release = _Releaser(mm)
    csize = np.cumsum(lay.body_b - lay.heads)
    s, n = 0, len(lay.heads)
    if part is not None and n:
        whole = int(csize[-1])
        s, n = (int(np.searchsorted(csize - (lay.body_b - lay.heads), x * whole, side="left"))
                for x in part)
        total = len(lay.heads)
        if s:  # the bytes before this part are never read, nor those after it
            release.upto(int(lay.heads[s]) if s < total else len(mm))
        if n < total:
            release.beyond(int(lay.heads[n]))
    first = s
    while True:
        base = int(csize[s - 1]) if s else 0
        e = min(max(int(np.searchsorted(csize, base + step, side="right")), s + 1), n)
        if s >= n:
            e = s  # an empty part: the tables alone
        try:
            batch = _samples(mm, lay, s, e, release)
        except (_Malformed, _Unusual, ProfileError):
            if s > first or part is not None:
                raise BatchesAbandoned(path) from None
            del mm
            yield formats.read_profile(path)
            return
        yield batch
        s = e
        if s >= n:
            break
    del batch, mm
    _trim_heap()


def _trim_heap() -> None:
    """Give the C heap's free pages back to the system (glibc only; a no-op elsewhere).

    The decoder's chunk temporaries are freed, but glibc keeps most of them as free heap
    (its mmap threshold grows with each large free), resident until the process ends,
    under the peaks that come after the parse.
    """
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


_LINE_WHAT = ("line.function_id", "line.line", "line.column")
_LABEL_WHAT = ("label.key", "label.str", "label.num", "label.num_unit")


class _NotProfile(Exception):
    """Internal: valid protobuf, but not a profile."""


@dataclass
class _Layout:
    """What a scan of a profile found: every table, and where each sample's bytes are."""

    tables: Profile  # the whole profile but its samples
    heads: Int64Array  # per sample in file order: where its field starts,
    body_a: Int64Array  # where its body starts
    body_b: Int64Array  # and ends
    loc_map: dict[int, int]  # location id as written -> dense id
    lut: Int64Array | None  # the same as an array (None when the ids are sparse)
    identity: bool  # the ids are already dense (Go's): no renumbering


def _parse(buf: Buf, release: _Releaser | None = None) -> Profile:
    lay = _scan(buf)
    return _samples(buf, lay, 0, len(lay.heads), release)


def _many_varint_fields(buf: Buf, spans: list[tuple[int, int]], what: tuple[str, ...]
                        ) -> list[list[int]]:
    """``_varint_fields`` of many messages, in C (``_wire.messages``); any problem is named by
    the message-at-a-time Python walk."""
    nf = len(what)
    if spans:
        out = np.empty((len(spans), nf + 1), np.uint64)
        if _wire.messages(buf, np.array(spans, np.int64), nf, out) == 0:
            rows: list[list[int]] = out.tolist()
            return rows
    return [_varint_fields(buf, a, b, what) for a, b in spans]


def _locations(buf: Buf, spans: list[tuple[int, int]]
               ) -> list[tuple[int, int, int, list[tuple[int, int, int]], bool]]:
    """(id, mapping id, address, lines, is_folded) of each location message, in C
    (``_wire.locations``); any problem is named by the field-by-field Python walk."""
    if spans:
        sp = np.array(spans, np.int64)
        loc = np.empty((len(spans), 5), np.uint64)
        lines = np.empty((int((sp[:, 1] - sp[:, 0]).sum()) // 2 + 1, 3), np.uint64)
        nl = _wire.locations(buf, sp, loc, lines)
        if nl >= 0:
            flat = [tuple(x) for x in lines[:nl].tolist()]
            out = []
            k = 0
            for lid, mid, addr, folded, n in loc.tolist():
                out.append((lid, mid, addr, flat[k : k + n], bool(folded)))
                k += n
            return out
    loc_raw: list[tuple[int, int, int, list[tuple[int, int, int]], bool]] = []
    for a, b in spans:
        lid = mid = addr = 0
        folded = False
        lines_: list[tuple[int, int, int]] = []
        for f, wt, x, y in _fields(buf, a, b):
            if f == 1:
                lid = _int(wt, x, "location.id")
            elif f == 2:
                mid = _int(wt, x, "location.mapping_id")
            elif f == 3:
                addr = _int(wt, x, "location.address")
            elif f == 4:
                x, y = _span(wt, x, y, "location.line")
                _, fn, ln, col = _varint_fields(buf, x, y, _LINE_WHAT)
                lines_.append((fn, ln, col))
            elif f == 5:
                folded = bool(_int(wt, x, "location.is_folded"))
        loc_raw.append((lid, mid, addr, lines_, folded))
    return loc_raw


def _scan(buf: Buf) -> _Layout:
    """Decode every field but the samples' insides, which are only located."""
    smp, others, err = _wire.scan(buf)
    scalars: dict[int, int] = {}
    comments: list[int] = []
    # every other field in file order, as far as the wire data is valid
    rows = np.frombuffer(others, np.int64).reshape(-1, 4)
    fno, wt = rows[:, 0], rows[:, 1]
    odd = (wt == 0) & (((fno >= 1) & (fno <= 11) & ~np.isin(fno, (7, 8, 9, 10))) | (fno == 13))
    odd |= (wt == 2) & (fno >= 7) & (fno <= 15) & (fno != 11)
    odd |= (wt != 0) & (wt != 2)
    # the usual fields taken by kind; anything else (comments, fields of other messages,
    # wrong wire types) in order by the loop below, which raises what the first one calls for
    for i in np.flatnonzero(odd).tolist() if odd.any() else ():
        f, w, a, b = rows[i].tolist()
        if w == 0:
            if f == 13:
                comments.append(a & _MASK64)
            elif f not in (12, 14, 15):
                raise _NotProfile(f"field {f} has the wrong wire type")
        elif w == 2:
            if f == 13:
                comments.extend(_packed(buf, a, b))
            elif 7 <= f <= 15:
                raise _NotProfile(f"field {f} has the wrong wire type")
        elif 1 <= f <= 15:
            raise _NotProfile(f"field {f} has the wrong wire type")
    two = rows[wt == 2]
    by_field = {k: [(a, b) for _, _, a, b in two[two[:, 0] == k].tolist()]
                for k in (1, 3, 4, 5, 11)}
    sample_types, mappings, locations = by_field[1], by_field[3], by_field[4]
    functions = by_field[5]
    period_type = by_field[11][-1] if by_field[11] else None
    strings = [buf[a:b].decode("utf-8", "replace") for _, _, a, b in two[two[:, 0] == 6].tolist()]
    for f, _, v, _ in rows[(wt == 0) & np.isin(fno, (7, 8, 9, 10, 12, 14, 15))].tolist():
        scalars[f] = v & _MASK64  # the last one wins
    if err is not None:
        raise _Malformed(err)
    if not strings:
        raise _NotProfile("no string table")
    if strings[0] != "":
        raise _NotProfile("string table does not start with the empty string")
    nstr = len(strings)

    def s(i: int, what: str) -> str:
        if i >= nstr:
            raise _Malformed(f"{what}: string index {i} out of range ({nstr} strings)")
        return strings[i]

    def value_type(a: int, b: int, what: str) -> ValueType:
        _, t, u = _varint_fields(buf, a, b, (what, what))
        return ValueType(s(t, what), s(u, what))

    stypes = tuple(value_type(a, b, "sample_type") for a, b in sample_types)

    # functions
    fn_what = ("function.id", "function.name", "function.system_name", "function.filename",
               "function.start_line")
    fn_raw = _many_varint_fields(buf, functions, fn_what)
    fn_map = _renumber([r[1] for r in fn_raw], "function")
    if fn_raw and max(max(r[2:5]) for r in fn_raw) < nstr:  # every name in range
        funcs = tuple(Function(i, strings[nm], strings[sy], strings[fl], _signed(st))
                      for i, (_, _fid, nm, sy, fl, st) in enumerate(fn_raw, 1))
    else:
        funcs = tuple(
            Function(i, s(nm, "function.name"), s(sy, "function.system_name"),
                     s(fl, "function.filename"), _signed(st))
            for i, (_, _fid, nm, sy, fl, st) in enumerate(fn_raw, 1)
        )

    # mappings
    mp_raw = _many_varint_fields(buf, mappings, ("mapping",) * 10)
    mp_map = _renumber([r[1] for r in mp_raw], "mapping")
    maps = tuple(
        Mapping(i, r[2], r[3], r[4], s(r[5], "mapping.filename"), s(r[6], "mapping.build_id"),
                bool(r[7]), bool(r[8]), bool(r[9]), bool(r[10]))
        for i, r in enumerate(mp_raw, 1)
    )

    # locations
    loc_raw = _locations(buf, locations)
    loc_map = _renumber([r[0] for r in loc_raw], "location")

    lines_made: dict[tuple[int, int, int], Line] = {}  # equal lines share one object
    fn_get = fn_map.get
    locs: list[Location] = []
    for i, (lid, mid, addr, lines, folded) in enumerate(loc_raw, 1):
        if mid and mid not in mp_map:
            raise _Malformed(f"location {lid} refers to mapping {mid}, which does not exist")
        made: list[Line] = []
        for key in lines:
            ln_obj = lines_made.get(key)
            if ln_obj is None:
                fn, ln, col = key
                if fn and fn not in fn_map:
                    raise _Malformed(
                        f"location {lid} refers to function {fn}, which does not exist")
                ln_obj = lines_made[key] = Line(fn_get(fn, 0), _signed(ln), _signed(col))
            made.append(ln_obj)
        locs.append(Location(i, mp_map.get(mid, 0), addr, tuple(made), folded))

    # samples: (head, body start, body end) of each, in file order
    spans = np.frombuffer(smp, np.int64).reshape(-1, 3)
    h, ba, bb = (np.ascontiguousarray(spans[:, k]) for k in range(3))
    del spans, smp
    lut = _lookup_table(loc_map)
    identity = lut is not None and bool(np.array_equal(lut[:-1], np.arange(len(lut) - 1)))
    for k in (7, 8, 14, 15):
        s(scalars.get(k, 0), f"profile field {k}")
    tables = Profile(
        sample_types=stypes,
        values=np.zeros((0, len(stypes)), np.int64),
        stack_offsets=np.zeros(1, np.int64),
        stack_locations=np.zeros(0, np.int64),
        locations=tuple(locs),
        functions=funcs,
        mappings=maps,
        strings=tuple(strings),
        period_type=value_type(*period_type, "period_type") if period_type else None,
        period=_signed(scalars.get(12, 0)),
        time_nanos=_signed(scalars.get(9, 0)),
        duration_nanos=_signed(scalars.get(10, 0)),
        drop_frames=strings[scalars.get(7, 0)],
        keep_frames=strings[scalars.get(8, 0)],
        comments=tuple(s(c, "comment") for c in comments),
        default_sample_type=strings[scalars.get(14, 0)],
        doc_url=strings[scalars.get(15, 0)],
    )
    return _Layout(tables, h, ba, bb, loc_map, lut, identity)


def _samples(buf: Buf, lay: _Layout, s: int, e: int, release: _Releaser | None) -> Profile:
    """``lay.tables`` with samples ``[s, e)`` (all of them, or one batch)."""
    h, ba, bb = lay.heads[s:e], lay.body_a[s:e], lay.body_b[s:e]
    loc_map, lut, identity = lay.loc_map, lay.lut, lay.identity
    release_end = int(lay.heads[e]) if e < len(lay.heads) else len(buf)
    ns = len(h)
    ntypes = len(lay.tables.sample_types)
    nstr = len(lay.tables.strings)
    cols: _FastSamples | _SampleCols
    try:
        cols = _decode_samples_fast(buf, h, ba, bb, ntypes, None if identity else lut)
        if lut is None:
            stack_locations = _map_ids(cols.stack_locations.view(np.uint64), loc_map, "location")
        else:
            stack_locations = cols.stack_locations
            nl = len(loc_map)
            if len(stack_locations) and (
                (identity and not (stack_locations.min() >= 1 and stack_locations.max() <= nl))
                or (not identity and not np.all(stack_locations))
            ):
                # find and name the dangling id
                raw = _decode_samples_fast(buf, h, ba, bb, ntypes, None).stack_locations
                _map_ids(raw.view(np.uint64), loc_map, "location")
        loc_counts = cols.loc_counts
        values = cols.values
    except _Unusual:
        cols = _decode_samples_slow(buf, list(zip(ba.tolist(), bb.tolist(), strict=True)))
        if ns and np.any(cols.value_counts != ntypes):
            bad = int(np.flatnonzero(cols.value_counts != ntypes)[0])
            raise _Malformed(
                f"sample {bad} has {int(cols.value_counts[bad])} values for {ntypes} sample types"
            ) from None
        stack_locations = _map_ids(cols.loc_ids, loc_map, "location")
        loc_counts = cols.loc_counts
        values = (cols.values.view(np.int64).reshape(ns, ntypes) if ntypes
                  else np.zeros((ns, 0), np.int64))
    del h, ba, bb
    if release is not None:  # nothing before the next sample is read again
        release.upto(release_end)
    offsets = np.zeros(ns + 1, np.int64)
    np.cumsum(loc_counts, out=offsets[1:])
    # read-only arrays are kept by the model as they are (a writeable one is copied)
    for done in (stack_locations, offsets, values):
        done.flags.writeable = False

    is_str = cols.lab_str != 0
    for arr, what in ((cols.lab_key, "label key"), (cols.lab_str, "label value"),
                      (cols.lab_unit, "label unit")):
        if len(arr) and int(arr.max()) >= nstr:
            raise _Malformed(f"{what}: string index {int(arr.max())} out of range")
    str_labels = Labels(cols.lab_sample[is_str], cols.lab_key[is_str].astype(np.int64),
                        cols.lab_str[is_str].astype(np.int64),
                        np.zeros(int(is_str.sum()), np.int64))
    nm = ~is_str
    if nm.all():  # the usual case (Go's heap `bytes` label): the decoded columns, no copies
        # (read-only views are kept by the model as they are)
        ro = [x.view(np.int64) for x in (cols.lab_sample, cols.lab_key, cols.lab_num,
                                          cols.lab_unit)]
        for done in ro:
            done.flags.writeable = False
        num_labels = Labels(*ro)
    else:
        num_labels = Labels(cols.lab_sample[nm], cols.lab_key[nm].astype(np.int64),
                            cols.lab_num[nm].view(np.int64), cols.lab_unit[nm].astype(np.int64))

    return dataclasses.replace(lay.tables, values=values, stack_offsets=offsets,
                               stack_locations=stack_locations, str_labels=str_labels,
                               num_labels=num_labels)
