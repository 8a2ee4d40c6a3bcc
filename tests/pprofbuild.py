"""A tiny, independent protobuf encoder for hand-made pprof profiles in tests.

Deliberately separate from ``leaksleuth.profile.pprof``'s writer so parser tests do not
check the parser against its own twin.
"""

from __future__ import annotations

import numpy as np

from leaksleuth.profile.model import Labels, Profile


def varint(v: int) -> bytes:
    if v < 0:
        v += 1 << 64
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def field_varint(fno: int, v: int) -> bytes:
    return varint(fno << 3) + varint(v)


def field_bytes(fno: int, payload: bytes) -> bytes:
    return varint((fno << 3) | 2) + varint(len(payload)) + payload


def packed(fno: int, vals: list[int]) -> bytes:
    return field_bytes(fno, b"".join(varint(v) for v in vals))


class Builder:
    """Build a profile message field by field; strings are interned."""

    def __init__(self, types: list[tuple[str, str]] | None = None) -> None:
        self.strings: list[bytes] = [b""]
        self.index: dict[bytes, int] = {b"": 0}
        self.parts: list[bytes] = []
        for t, u in types or [("samples", "count")]:
            vt = field_varint(1, self.s(t)) + field_varint(2, self.s(u))
            self.parts.append(field_bytes(1, vt))

    def s(self, x: str | bytes) -> int:
        b = x.encode() if isinstance(x, str) else x
        if b not in self.index:
            self.index[b] = len(self.strings)
            self.strings.append(b)
        return self.index[b]

    def function(self, fid: int, name: str | bytes, filename: str = "x.go") -> Builder:
        self.parts.append(field_bytes(5, field_varint(1, fid) + field_varint(2, self.s(name))
                                      + field_varint(4, self.s(filename))))
        return self

    def location(self, lid: int, fids: list[int], address: int = 0) -> Builder:
        """``fids`` innermost first (several = inlined frames)."""
        body = field_varint(1, lid) + field_varint(3, address or 0x1000 + lid)
        for i, f in enumerate(fids):
            body += field_bytes(4, field_varint(1, f) + field_varint(2, 10 + i))
        self.parts.append(field_bytes(4, body))
        return self

    def sample(self, locs: list[int], values: list[int], *, unpacked: bool = False,
               labels: list[tuple[str, str | int]] = ()) -> Builder:  # type: ignore[assignment]
        if unpacked:
            body = b"".join(field_varint(1, x) for x in locs)
            body += b"".join(field_varint(2, x) for x in values)
        else:
            body = packed(1, locs) + packed(2, values)
        for k, v in labels:
            lab = field_varint(1, self.s(k))
            lab += field_varint(2, self.s(v)) if isinstance(v, str) else field_varint(3, v)
            body += field_bytes(3, lab)
        self.parts.append(field_bytes(2, body))
        return self

    def build(self) -> bytes:
        return b"".join(self.parts) + b"".join(field_bytes(6, x) for x in self.strings)


def resolved(p: Profile) -> dict[str, object]:
    """Everything a profile says, with ids and string indices resolved, for equality checks."""

    def labels(lab: Labels, is_str: bool) -> list[tuple[int, str, object, str]]:
        rows = []
        for s, k, v, u in zip(lab.sample.tolist(), lab.key.tolist(), lab.value.tolist(),
                              lab.unit.tolist(), strict=True):
            rows.append((s, p.strings[k], p.strings[v] if is_str else v,
                         p.strings[u] if not is_str else ""))
        return sorted(rows)

    def fn(fid: int) -> tuple[str, str, str, int] | None:
        if not fid:
            return None
        f = p.function(fid)
        return (f.name, f.system_name, f.filename, f.start_line)

    def loc(lid: int) -> tuple[object, ...]:
        lo = p.location(lid)
        m = p.mappings[lo.mapping_id - 1] if lo.mapping_id else None
        mk = (m.filename, m.build_id, m.start, m.limit, m.offset) if m else None
        return (mk, lo.address, tuple((fn(ln.function_id), ln.line, ln.column)
                                      for ln in lo.lines), lo.is_folded)

    return {
        "types": [(t.type, t.unit) for t in p.sample_types],
        "values": np.asarray(p.values).tolist(),
        "stacks": [[loc(int(x)) for x in p.stack(i)] for i in range(p.n_samples)],
        "str_labels": labels(p.str_labels, True),
        "num_labels": labels(p.num_labels, False),
        "scalars": (p.period_type, p.period, p.time_nanos, p.duration_nanos, p.drop_frames,
                    p.keep_frames, p.comments, p.default_sample_type, p.doc_url),
        "locations": [loc(lo.id) for lo in p.locations],
        "functions": [fn(f.id) for f in p.functions],
    }
