"""Property tests over the pprof parser (hypothesis, bounded to a few seconds each).

- random and mutated bytes never raise anything but ProfileError;
- generated profiles round-trip through write_pprof -> parse_pprof unchanged;
- the vectorised sample decoder agrees with the per-message reference decoder.
"""

from __future__ import annotations

import contextlib
import gzip

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leaksleuth.errors import ProfileError
from leaksleuth.profile import pprof
from leaksleuth.profile.formats import load_profile
from leaksleuth.profile.model import Function, Labels, Line, Location, Mapping, Profile, ValueType
from pprofbuild import Builder, resolved
from pprofencode import write_pprof

FAST = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


def _seed() -> bytes:
    b = Builder([("alloc_objects", "count"), ("alloc_space", "bytes")])
    for i in range(1, 6):
        b.function(i, f"main.f{i}")
    b.location(1, [1, 2]).location(2, [3]).location(3, [4]).location(4, [5])
    b.sample([1, 2, 3], [1, 300], labels=[("bytes", 300)])
    b.sample([2, 4], [2, 64], labels=[("bytes", 32), ("kind", "x")])
    b.sample([4], [-1, -5], unpacked=True)
    return b.build()


SEED = _seed()


def _only_profile_errors(data: bytes) -> None:
    with contextlib.suppress(ProfileError):
        pprof.parse_pprof(data, "fuzz")
    with contextlib.suppress(ProfileError):
        load_profile(data, "fuzz")


@FAST
@given(st.binary(max_size=600))
def test_random_bytes_only_profile_errors(data: bytes) -> None:
    _only_profile_errors(data)


@st.composite
def mutations(draw: st.DrawFn) -> bytes:
    data = bytearray(SEED)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete" and data:
            del data[pos : pos + draw(st.integers(1, 4))]
        elif op == "truncate":
            del data[pos:]
    return bytes(data)


@FAST
@given(mutations())
def test_mutated_profiles_only_profile_errors(data: bytes) -> None:
    _only_profile_errors(data)
    _only_profile_errors(gzip.compress(data))


@FAST
@given(mutations())
def test_vectorised_decoder_matches_reference(data: bytes) -> None:
    """Whenever the fast path accepts bytes, the reference decoder reads the same samples."""
    try:
        fast = pprof.parse_pprof(data, "fuzz")
    except ProfileError:
        return
    orig = pprof._decode_samples_fast

    def unusual(*_args: object) -> None:
        raise pprof._Unusual()

    try:
        pprof._decode_samples_fast = unusual  # type: ignore[assignment]
        slow = pprof.parse_pprof(data, "fuzz")
    finally:
        pprof._decode_samples_fast = orig  # type: ignore[assignment]
    assert resolved(fast) == resolved(slow)


names = st.text(min_size=1, max_size=12)


@st.composite
def profiles(draw: st.DrawFn) -> Profile:
    ntypes = draw(st.integers(1, 4))
    types = tuple(ValueType(f"t{i}", draw(st.sampled_from(["count", "bytes", "nanoseconds"])))
                  for i in range(ntypes))
    nfun = draw(st.integers(1, 6))
    funcs = tuple(Function(i, draw(names), draw(st.sampled_from(["", "sys"])),
                           draw(st.sampled_from(["", "a.go", "b/c.go"])),
                           draw(st.integers(0, 500))) for i in range(1, nfun + 1))
    maps = (Mapping(1, 0x400000, 0x800000, 0, "/bin/x", "abc", True, True, True, True),)
    nloc = draw(st.integers(1, 8))
    locs = tuple(
        Location(i, draw(st.sampled_from([0, 1])), draw(st.integers(0, 2**64 - 1)),
                 tuple(Line(draw(st.integers(1, nfun)), draw(st.integers(-5, 10**6)),
                            draw(st.integers(0, 80)))
                       for _ in range(draw(st.integers(0, 3)))),
                 draw(st.booleans()))
        for i in range(1, nloc + 1)
    )
    nsamp = draw(st.integers(0, 12))
    stacks = [draw(st.lists(st.integers(1, nloc), max_size=10)) for _ in range(nsamp)]
    values = draw(st.lists(st.lists(st.integers(-2**63, 2**63 - 1), min_size=ntypes,
                                    max_size=ntypes), min_size=nsamp, max_size=nsamp))
    strings = ("", "bytes", "kind", "x", "y", "unit")
    lab_rows = draw(st.lists(st.tuples(st.integers(0, max(nsamp - 1, 0)), st.sampled_from([1, 2]),
                                       st.sampled_from([3, 4])), max_size=6)) if nsamp else []
    lab_rows.sort()
    str_labels = Labels([r[0] for r in lab_rows], [r[1] for r in lab_rows],
                        [r[2] for r in lab_rows], [0] * len(lab_rows))
    num_rows = draw(st.lists(st.tuples(st.integers(0, max(nsamp - 1, 0)),
                                       st.integers(-2**40, 2**40)), max_size=6)) if nsamp else []
    num_rows.sort()
    num_labels = Labels([r[0] for r in num_rows], [1] * len(num_rows),
                        [r[1] for r in num_rows], [5] * len(num_rows))
    offsets = np.cumsum([0] + [len(s) for s in stacks])
    return Profile(
        sample_types=types,
        values=np.array(values, np.int64).reshape(nsamp, ntypes),
        stack_offsets=offsets,
        stack_locations=np.array([x for s in stacks for x in s], np.int64),
        locations=locs, functions=funcs, mappings=maps, strings=strings,
        str_labels=str_labels, num_labels=num_labels,
        period_type=draw(st.sampled_from([None, ValueType("space", "bytes")])),
        period=draw(st.integers(0, 10**6)), time_nanos=draw(st.integers(0, 2**62)),
        duration_nanos=draw(st.integers(0, 10**12)),
        drop_frames=draw(st.sampled_from(["", "runtime\\..*"])),
        comments=tuple(draw(st.lists(names, max_size=2))),
        default_sample_type=draw(st.sampled_from(["", "t0"])),
        doc_url=draw(st.sampled_from(["", "https://go.dev/doc"])),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(profiles())
def test_generated_profiles_round_trip(p: Profile) -> None:
    back = load_profile(write_pprof(p), "roundtrip")
    assert resolved(back) == resolved(p)
