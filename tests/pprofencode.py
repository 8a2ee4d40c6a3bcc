"""Write a ``Profile`` as pprof protobuf (google/pprof ``proto/profile.proto``), gzipped as
``go tool pprof`` reads it: how the tests make large profiles (round trips through our
reader, parity with ``go tool pprof``, golden files); leaksleuth itself only reads profiles.
The samples, the bulk of a profile, are laid out as one array of varint tokens and encoded
with numpy at once."""

from __future__ import annotations

import gzip
from typing import Any

import numpy as np
from numpy.typing import NDArray

from leaksleuth.profile.model import Int64Array, Profile, ValueType

U64 = NDArray[np.uint64]
_TWO64 = 1 << 64


def _enc_varint(v: int, out: bytearray) -> None:
    if v < 0:
        v += _TWO64
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def _enc_field_varint(fno: int, v: int, out: bytearray) -> None:
    if v:
        _enc_varint(fno << 3, out)
        _enc_varint(v, out)


def _enc_field_bytes(fno: int, payload: bytes | bytearray, out: bytearray) -> None:
    _enc_varint((fno << 3) | 2, out)
    _enc_varint(len(payload), out)
    out += payload


def _enc_packed(fno: int, vals: Any, out: bytearray) -> None:
    if len(vals) == 0:
        return
    body = bytearray()
    for v in vals:
        _enc_varint(int(v), body)
    _enc_field_bytes(fno, body, out)


class _Strings:
    def __init__(self, base: tuple[str, ...]) -> None:
        self.table: list[str] = list(base) if base and base[0] == "" else ["", *base]
        self.index: dict[str, int] = {}
        for i, x in enumerate(self.table):
            self.index.setdefault(x, i)
        self.shift = 0 if base and base[0] == "" else 1

    def __call__(self, x: str) -> int:
        i = self.index.get(x)
        if i is None:
            i = len(self.table)
            self.table.append(x)
            self.index[x] = i
        return i


_VARINT_LIMITS = np.array([1 << (7 * k) for k in range(1, 10)], dtype=np.uint64)


def _varint_len(x: U64) -> Int64Array:
    """Bytes each uint64 takes as a varint (1..10), in one pass."""
    out: Int64Array = np.searchsorted(_VARINT_LIMITS, x, side="right").astype(np.int64) + 1
    return out


def _encode_varints(tokens: U64) -> bytes:
    """Every value of ``tokens`` as consecutive varints, vectorised, 1M tokens at a time."""
    parts: list[bytes] = []
    step = 1 << 20
    for c in range(0, len(tokens), step):
        t = tokens[c : c + step]
        if not np.any(t >= np.uint64(0x80)):  # the common case: all one-byte varints
            parts.append(t.astype(np.uint8).tobytes())
            continue
        lens = _varint_len(t)
        starts = np.zeros(len(t) + 1, np.int64)
        np.cumsum(lens, out=starts[1:])
        out = np.empty(int(starts[-1]), np.uint8)
        first = (t & np.uint64(0x7F)) | ((lens > 1).astype(np.uint64) << np.uint64(7))
        out[starts[:-1]] = first.astype(np.uint8)
        sel = np.flatnonzero(lens > 1)
        k = 1
        while len(sel):
            chunk = (t[sel] >> np.uint64(7 * k)) & np.uint64(0x7F)
            more = (lens[sel] > k + 1).astype(np.uint64) << np.uint64(7)
            out[starts[sel] + k] = (chunk | more).astype(np.uint8)
            k += 1
            sel = sel[lens[sel] > k]
        parts.append(out.tobytes())
    return b"".join(parts)


def _encode_samples(p: Profile, sh: int) -> bytes:
    """All ``sample`` fields, vectorised: a sample is only varints (tags, lengths, packed
    values), so the section is laid out as one array of varint tokens and encoded at once
    rather than a Python loop per sample)."""
    n = p.n_samples
    if n == 0:
        return b""
    nt = p.values.shape[1]
    offs = p.stack_offsets
    nloc = np.diff(offs)
    locs = p.stack_locations.astype(np.uint64)
    vals = p.values.reshape(-1).view(np.uint64)
    # labels: one row each, in sample order; a string label is 6 tokens, a numeric one 8
    lab_s = np.concatenate([p.str_labels.sample, p.num_labels.sample])
    is_str = np.zeros(len(lab_s), bool)
    is_str[: len(p.str_labels)] = True
    lab_key = np.concatenate([p.str_labels.key, p.num_labels.key]) + sh
    lab_val = np.concatenate([p.str_labels.value + sh, p.num_labels.value]).view(np.uint64)
    lab_unit = np.concatenate([p.str_labels.unit, np.where(p.num_labels.unit != 0,
                                                           p.num_labels.unit + sh, 0)])
    order = np.argsort(lab_s, kind="stable")
    lab_s, is_str = lab_s[order], is_str[order]
    lab_key = lab_key[order].astype(np.uint64)
    lab_val, lab_unit = lab_val[order], lab_unit[order].astype(np.uint64)
    lab_ntok = np.where(is_str, 6, 8)
    lab_len = 2 + _varint_len(lab_key) + _varint_len(lab_val)
    lab_len = lab_len + np.where(is_str, 0, 1 + _varint_len(lab_unit))
    # byte lengths of each sample's packed fields and body
    loc_bytes = np.bincount(np.repeat(np.arange(n), nloc), weights=_varint_len(locs),
                            minlength=n).astype(np.int64)
    val_bytes = _varint_len(vals).reshape(n, nt).sum(axis=1) if nt else np.zeros(n, np.int64)
    lab_field = 1 + _varint_len(lab_len.astype(np.uint64)) + lab_len
    lab_bytes = np.bincount(lab_s, weights=lab_field, minlength=n).astype(np.int64)
    has_loc = nloc > 0
    body = lab_bytes + np.where(has_loc, 1 + _varint_len(loc_bytes.astype(np.uint64))
                                + loc_bytes, 0)
    if nt:
        body += 1 + _varint_len(val_bytes.astype(np.uint64)) + val_bytes
    # token positions
    lab_tok = np.bincount(lab_s, weights=lab_ntok, minlength=n).astype(np.int64)
    ntok = 2 + np.where(has_loc, 2 + nloc, 0) + (2 + nt if nt else 0) + lab_tok
    start = np.zeros(n + 1, np.int64)
    np.cumsum(ntok, out=start[1:])
    tok = np.zeros(int(start[-1]), np.uint64)
    s0 = start[:-1]
    tok[s0] = 0x12
    tok[s0 + 1] = body.astype(np.uint64)
    ls = s0 + 2
    hl = np.flatnonzero(has_loc)
    tok[ls[hl]] = 0x0A
    tok[ls[hl] + 1] = loc_bytes[hl].astype(np.uint64)
    tok[np.repeat(ls + 2 - offs[:-1], nloc) + np.arange(len(locs))] = locs
    vs = ls + np.where(has_loc, 2 + nloc, 0)
    if nt:
        tok[vs] = 0x12
        tok[vs + 1] = val_bytes.astype(np.uint64)
        tok[(vs + 2)[:, None] + np.arange(nt)[None, :]] = vals.reshape(n, nt)
    if len(lab_s):
        lab0 = vs + (2 + nt if nt else 0)  # first label token of each sample
        first_lab = np.zeros(n, np.int64)
        np.cumsum(np.bincount(lab_s, minlength=n)[:-1], out=first_lab[1:])
        tok_before = np.cumsum(lab_ntok) - lab_ntok  # tokens of earlier labels overall
        within = tok_before - tok_before[first_lab[lab_s]]
        t = lab0[lab_s] + within
        tok[t] = 0x1A
        tok[t + 1] = lab_len.astype(np.uint64)
        tok[t + 2] = 0x08
        tok[t + 3] = lab_key
        tok[t + 4] = np.where(is_str, 0x10, 0x18).astype(np.uint64)
        tok[t + 5] = lab_val
        num = ~is_str
        tok[t[num] + 6] = 0x20
        tok[t[num] + 7] = lab_unit[num]
    return _encode_varints(tok)


def encode_pprof(profile: Profile) -> bytes:
    """Uncompressed protobuf bytes for ``profile`` (ids written as the model's dense ids)."""
    p = profile
    st = _Strings(p.strings)
    sh = st.shift  # label string indices refer to p.strings
    out = bytearray()

    def value_type(vt: ValueType) -> bytearray:
        b = bytearray()
        _enc_field_varint(1, st(vt.type), b)
        _enc_field_varint(2, st(vt.unit), b)
        return b

    for vt in p.sample_types:
        _enc_field_bytes(1, value_type(vt), out)
    out += _encode_samples(p, sh)
    for m in p.mappings:
        b = bytearray()
        _enc_field_varint(1, m.id, b)
        _enc_field_varint(2, m.start, b)
        _enc_field_varint(3, m.limit, b)
        _enc_field_varint(4, m.offset, b)
        _enc_field_varint(5, st(m.filename), b)
        _enc_field_varint(6, st(m.build_id), b)
        for f, flag in ((7, m.has_functions), (8, m.has_filenames), (9, m.has_line_numbers),
                        (10, m.has_inline_frames)):
            _enc_field_varint(f, int(flag), b)
        _enc_field_bytes(3, b, out)
    for loc in p.locations:
        b = bytearray()
        _enc_field_varint(1, loc.id, b)
        _enc_field_varint(2, loc.mapping_id, b)
        _enc_field_varint(3, loc.address, b)
        for ln in loc.lines:
            lb = bytearray()
            _enc_field_varint(1, ln.function_id, lb)
            _enc_field_varint(2, ln.line, lb)
            _enc_field_varint(3, ln.column, lb)
            _enc_field_bytes(4, lb, b)
        _enc_field_varint(5, int(loc.is_folded), b)
        _enc_field_bytes(4, b, out)
    for fn in p.functions:
        b = bytearray()
        _enc_field_varint(1, fn.id, b)
        _enc_field_varint(2, st(fn.name), b)
        _enc_field_varint(3, st(fn.system_name), b)
        _enc_field_varint(4, st(fn.filename), b)
        _enc_field_varint(5, fn.start_line, b)
        _enc_field_bytes(5, b, out)
    scalars = [
        (7, st(p.drop_frames)), (8, st(p.keep_frames)), (9, p.time_nanos),
        (10, p.duration_nanos),
    ]
    tail = bytearray()
    for f, v in scalars:
        _enc_field_varint(f, v, tail)
    if p.period_type is not None:
        _enc_field_bytes(11, value_type(p.period_type), tail)
    _enc_field_varint(12, p.period, tail)
    for c in p.comments:
        _enc_varint(13 << 3, tail)
        _enc_varint(st(c), tail)
    _enc_field_varint(14, st(p.default_sample_type), tail)
    _enc_field_varint(15, st(p.doc_url), tail)
    for x in st.table:  # after every st() call above
        _enc_field_bytes(6, x.encode("utf-8", "replace"), out)
    out += tail
    return bytes(out)


def write_pprof(profile: Profile) -> bytes:
    """Gzipped protobuf, readable by ``go tool pprof``."""
    return gzip.compress(encode_pprof(profile), compresslevel=6)
