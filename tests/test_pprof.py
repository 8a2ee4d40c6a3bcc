"""parse_pprof / write_pprof on hand-made profiles and on real Go profiles."""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import numpy as np
import pytest

from leaksleuth.errors import ProfileError
from leaksleuth.profile import pprof
from leaksleuth.profile.formats import load_profile, read_profile
from pprofbuild import Builder, field_bytes, field_varint, resolved
from pprofencode import write_pprof
from support.goservice import TESTS_DIR, build_or_skip


def _reference(data: bytes) -> dict[str, object]:
    """Parse with the per-message reference decoder only."""
    orig = pprof._decode_samples_fast

    def unusual(*_args: object) -> None:
        raise pprof._Unusual()

    try:
        pprof._decode_samples_fast = unusual  # type: ignore[assignment]
        return resolved(pprof.parse_pprof(data, "ref"))
    finally:
        pprof._decode_samples_fast = orig  # type: ignore[assignment]


def test_hand_made_profile_fields() -> None:
    b = Builder([("alloc_objects", "count"), ("alloc_space", "bytes")])
    b.function(10, "main.a").function(20, "main.b", "b.go")
    b.location(500, [20, 10], address=0x4000)  # sparse ids are renumbered densely
    b.location(7, [10])
    b.sample([500, 7], [2, 300], labels=[("bytes", 150), ("kind", "slice")])
    b.sample([7], [-1, -64])
    data = b.build() + field_varint(9, 1234) + field_varint(12, 512 * 1024)
    p = pprof.parse_pprof(data, "x")
    assert [t.type for t in p.sample_types] == ["alloc_objects", "alloc_space"]
    assert p.values.tolist() == [[2, 300], [-1, -64]]  # negative int64 survive
    assert [lo.id for lo in p.locations] == [1, 2]
    assert p.stack(0).tolist() == [1, 2] and p.stack(1).tolist() == [2]
    loc = p.location(1)
    assert loc.address == 0x4000
    assert [p.function(ln.function_id).name for ln in loc.lines] == ["main.b", "main.a"]
    assert p.time_nanos == 1234 and p.period == 512 * 1024
    assert p.num_labels.sample.tolist() == [0]
    assert p.strings[p.num_labels.key[0]] == "bytes" and p.num_labels.value.tolist() == [150]
    assert p.strings[p.str_labels.value[0]] == "slice"
    assert resolved(p) == _reference(data)
    with pytest.raises(ValueError):
        p.values[0, 0] = 5  # immutable


def test_interleaved_samples_and_false_chain_candidates() -> None:
    """Samples interleaved with locations (as Go writes them), with values that look like
    field starts (10 = 0x0A, 18 = 0x12, 34 = 0x22), read exactly as the reference does."""
    b = Builder([("a", "count"), ("b", "count")])
    for i in range(1, 40):
        b.function(i, f"main.f{i}")
        b.location(i, [i])
        b.sample([i, 34, 18, 10][: 1 + i % 4] if i > 34 else [i], [10, 18 + i])
        b.sample([i], [34, 8])
    data = b.build()
    assert resolved(pprof.parse_pprof(data, "x")) == _reference(data)


def test_multibyte_lengths_and_big_varints() -> None:
    b = Builder([("v", "count")])
    b.function(1, "main.f")
    for i in range(1, 300):
        b.location(i, [1])
    b.sample(list(range(1, 300)), [2**62])  # body longer than 127 bytes
    b.sample([299], [-(2**63)])
    data = b.build()
    p = pprof.parse_pprof(data, "x")
    assert len(p.stack(0)) == 299 and p.values[:, 0].tolist() == [2**62, -(2**63)]
    assert resolved(p) == _reference(data)


def test_empty_profile_and_no_samples() -> None:
    p = pprof.parse_pprof(Builder().build(), "x")
    assert p.n_samples == 0 and len(p.stack_offsets) == 1
    with pytest.raises(ProfileError, match="no string table"):
        pprof.parse_pprof(field_bytes(1, field_varint(1, 0)), "x")


def test_write_then_parse_round_trip_hand_made() -> None:
    b = Builder([("a", "count")]).function(1, "f").location(1, [1]).sample([1], [5],
                                                                          labels=[("k", "v")])
    p = pprof.parse_pprof(b.build(), "x")
    out = write_pprof(p)
    assert out[:2] == b"\x1f\x8b"
    assert resolved(load_profile(out, "w")) == resolved(p)


@pytest.fixture(scope="module")
def real_profiles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    exe = build_or_skip(TESTS_DIR / "goprogs" / "allocgen", "1.26.6")
    d = tmp_path_factory.mktemp("allocgen-pprof")
    subprocess.run([str(exe), "-out", str(d)], check=True, capture_output=True, timeout=120)
    return d


@pytest.mark.go
@pytest.mark.parametrize("name", ["heap2", "allocs2", "goroutine2"])
def test_real_go_profiles(real_profiles: Path, name: str) -> None:
    raw = gzip.decompress((real_profiles / f"{name}.pb.gz").read_bytes())
    p = read_profile(real_profiles / f"{name}.pb.gz")
    assert p.n_samples > 0 and len(p.functions) > 5
    assert resolved(p) == _reference(raw)  # fast path == reference decoder
    back = load_profile(write_pprof(p), "w")
    assert resolved(back) == resolved(p)
    if name != "goroutine2":
        assert [t.type for t in p.sample_types] == [
            "alloc_objects", "alloc_space", "inuse_objects", "inuse_space"]
        # every heap sample carries the object size label
        assert p.strings[p.num_labels.key[0]] == "bytes"
    names = {f.name for f in p.functions}
    assert "main.main" in names
    assert np.all(p.stack_locations >= 1) and np.all(p.stack_locations <= len(p.locations))


def test_c_decoder_takes_what_go_writes_and_agrees_with_the_reference() -> None:
    """The C sample decoder (not its fallback) reads a deep, labelled, inlined profile, and
    the result equals the per-message reference decoder's."""
    from goldenprof import golden_profile
    from pprofencode import encode_pprof

    data = encode_pprof(golden_profile(400, 3))
    lay = pprof._scan(data)
    cols = pprof._decode_samples_fast(data, lay.heads, lay.body_a, lay.body_b,
                                      len(lay.tables.sample_types), None)  # no _Unusual
    assert len(cols.values) == 400 and len(cols.lab_sample) == 400
    assert resolved(pprof.parse_pprof(data, "x")) == _reference(data)
