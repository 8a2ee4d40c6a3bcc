"""The flame tree walked over the protobuf bytes (``flame_of_file``) against the tree built
from the decoded profile (``build_flame(read_profile(...))``): the same tree, or the same
error, for Go's profiles, hand-made encodings (unpacked ids, inlined frames, locations
without lines, multi-byte ids, deep stacks) and mutated bytes."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leaksleuth.errors import LeaksleuthError
from leaksleuth.profile import pprof
from leaksleuth.profile.formats import read_profile
from leaksleuth.report.flame import FlameGraph, build_flame, flame_of_file
from pprofbuild import Builder

GOLDEN = Path(__file__).resolve().parent / "golden" / "session" / "snapshots"


def both(path: Path, **kw: object) -> tuple[FlameGraph, FlameGraph]:
    return flame_of_file(str(path), **kw), build_flame(read_profile(path), **kw)  # type: ignore[arg-type]


def same(path: Path, **kw: object) -> FlameGraph:
    wire, ref = both(path, **kw)
    assert wire == ref
    return wire


def hand_made(rng: random.Random, nsamples: int = 400, depth: int = 40) -> bytes:
    return hand_made_builder(rng, nsamples, depth)[0].build()


def hand_made_builder(rng: random.Random, nsamples: int, depth: int) -> tuple[Builder, int]:
    """Functions and locations with ids up to ~300 (two-byte varints), some locations with
    inlined frames or no lines, deep stacks (past the walk's gather blocks), a few with two
    ids or fewer written unpacked as Go does, labels."""
    b = Builder([("alloc_objects", "count"), ("inuse_space", "bytes")])
    fids = list(range(1, 41)) + list(range(200, 230))
    for f in fids:
        b.function(f, f"pkg.f{f}")
    lids = list(range(1, 60)) + list(range(120, 300, 7))
    for lid in lids:
        kind = lid % 9
        b.location(lid, [] if kind == 0 else rng.sample(fids, 3 if kind == 1 else 1))
    before = len(b.parts)
    for _ in range(nsamples):
        n = rng.choice([0, 1, 2, 3, rng.randint(4, depth)])
        # a few shared roots, then any location: some subtrees are big, most are pruned
        locs = [rng.choice(lids) for _ in range(n)]
        locs[-3:] = [lids[k] for k in range(min(3, n))][::-1] if n > 3 else locs[-3:]
        vals = [rng.randint(1, 5), rng.choice([8, 64, 4096, 1 << 20])]
        b.sample(locs, vals, unpacked=n <= 2 and rng.random() < 0.7,
                 labels=[("bytes", vals[1])] if rng.random() < 0.5 else [])
    return b, before


def write_gz(path: Path, data: bytes) -> Path:
    path.write_bytes(gzip.compress(data))
    return path


def test_go_heap_profiles_give_the_same_tree() -> None:
    files = sorted(GOLDEN.glob("*/heap.pb.gz"))
    assert files
    for f in files:
        assert pprof.stack_spans(str(f)) is not None  # the walk over the bytes is used
        g = same(f)
        assert g.samples > 0 and g.nodes > 1
        same(f, sample_index="alloc_space", min_fraction=0.0)


@pytest.mark.parametrize("seed", range(4))
def test_hand_made_encodings_give_the_same_tree(tmp_path: Path, seed: int) -> None:
    path = write_gz(tmp_path / "p.pb.gz", hand_made(random.Random(seed)))
    sp = pprof.stack_spans(str(path))
    assert sp is not None and sp.unpacked.any()
    for kw in ({}, {"min_fraction": 0.0}, {"min_fraction": 0.01, "max_nodes": 60},
               {"sample_index": "alloc_objects"}):
        g = same(path, **kw)
        assert g.samples == 400
    assert same(path, min_fraction=0.0).nodes_before_pruning > 400  # deep trees were walked


def test_falls_back_to_the_whole_file_reader(tmp_path: Path) -> None:
    """Plain protobuf, text formats, unusual encodings: read whole, errors named as before."""
    data = hand_made(random.Random(7), nsamples=50)
    plain = tmp_path / "plain.pb"
    plain.write_bytes(data)
    assert pprof.stack_spans(str(plain)) is None
    same(plain)
    # a sample whose location ids come in two packed runs: read whole, same tree
    b2 = Builder()
    b2.function(1, "main.a").function(2, "main.b").location(1, [1]).location(2, [2])
    b2.parts.append(bytes([0x12, 10, 0x0A, 2, 1, 2, 0x0A, 1, 1, 0x12, 1, 5]))
    b2.sample([2], [3])
    f = write_gz(tmp_path / "runs.pb.gz", b2.build())
    assert pprof.stack_spans(str(f)) is None
    assert same(f).samples == 2
    # a dangling location id: the same error as the whole-file reader's
    b3 = Builder()
    b3.function(1, "main.a").location(1, [1]).sample([1, 9], [4])
    bad = write_gz(tmp_path / "dangling.pb.gz", b3.build())
    with pytest.raises(LeaksleuthError) as e_wire:
        flame_of_file(str(bad))
    with pytest.raises(LeaksleuthError) as e_ref:
        read_profile(bad)
    assert str(e_wire.value) == str(e_ref.value) and "location 9" in str(e_wire.value)


_B, _FIRST = hand_made_builder(random.Random(11), nsamples=30, depth=12)
SEED = _B.build()
# the samples' bytes, where mutations mostly land
LO = sum(len(x) for x in _B.parts[:_FIRST])
HI = sum(len(x) for x in _B.parts)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.sampled_from(["flip", "set", "delete"]),
                          st.integers(LO, HI - 1), st.integers(0, 255)),
                min_size=1, max_size=4))
def test_mutated_bytes_give_the_same_tree_or_error(tmp_path_factory: pytest.TempPathFactory,
                                                   edits: list[tuple[str, int, int]]) -> None:
    data = bytearray(SEED)
    for op, pos, x in edits:
        if pos >= len(data):
            continue
        if op == "flip":
            data[pos] ^= 1 << (x % 8)
        elif op == "set":
            data[pos] = x
        else:
            del data[pos:pos + 1 + x % 3]
    path = write_gz(tmp_path_factory.mktemp("m") / "m.pb.gz", bytes(data))
    results = []
    for build in (lambda: flame_of_file(str(path)), lambda: build_flame(read_profile(path))):
        try:
            results.append(build())
        except LeaksleuthError as exc:
            results.append(f"{type(exc).__name__}: {exc}")
    assert results[0] == results[1]
