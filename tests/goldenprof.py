"""Deterministic profiles for the golden-output tests: deep stacks through many functions,
inlined frames, recursion, `bytes` labels and a drop_frames pattern, written as gzipped
pprof by ``pprofencode.write_pprof`` (seeded: the same bytes on every run)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from leaksleuth.profile.model import Function, Labels, Line, Location, Mapping, Profile
from leaksleuth.profile.text import HEAP_SAMPLE_TYPES

PACKAGES = ("api", "cache", "db", "grpc", "runtime", "store", "sync")


def golden_profile(n: int, seed: int, funcs: int = 60) -> Profile:
    rng = np.random.default_rng(seed)
    names = [f"{PACKAGES[k % len(PACKAGES)]}.fn{k}" for k in range(funcs)]
    functions = tuple(Function(i + 1, nm, nm, f"/src/{nm.split('.')[0]}/f.go", 10 * i)
                      for i, nm in enumerate(names))
    locations = []
    for i in range(funcs * 2):
        f = i % funcs + 1
        lines: tuple[Line, ...] = (Line(f, 5 + i),)
        if i % 7 == 3:  # an inlined callee inside this frame
            lines = (Line((f + 11) % funcs + 1, 40 + i), *lines)
        locations.append(Location(i + 1, 1, 0x401000 + 16 * i, lines))
    offsets = [0]
    stacks: list[int] = []
    for _ in range(n):
        depth = int(rng.integers(3, 25))
        head = [int(rng.integers(1, 4)) for _ in range(2)]  # a few shared roots
        tail = rng.integers(1, len(locations) + 1, size=depth).tolist()
        stacks += tail + head[::-1]  # leaf first
        offsets.append(len(stacks))
    objects = rng.integers(0, 50, size=n)
    size = rng.choice([16, 32, 64, 128, 4096], size=n)
    alloc_objects = objects + rng.integers(0, 20, size=n)
    values = np.stack([alloc_objects, alloc_objects * size, objects, objects * size], axis=1)
    strings = ("", "bytes", "alloc_objects", "count", "alloc_space", "inuse_objects",
               "inuse_space")
    return Profile(
        sample_types=HEAP_SAMPLE_TYPES,
        values=values.astype(np.int64),
        stack_offsets=np.array(offsets, np.int64),
        stack_locations=np.array(stacks, np.int64),
        locations=tuple(locations),
        functions=functions,
        mappings=(Mapping(1, 0x400000, 0x800000, 0, "/usr/bin/svc", "abc123", True, True,
                          True, True),),
        strings=strings,
        num_labels=Labels(np.arange(n, dtype=np.int64), np.ones(n, np.int64),
                          size.astype(np.int64), np.ones(n, np.int64)),
        drop_frames="sync\\.fn.*",
        time_nanos=1_700_000_000_000_000_000 + seed,
        period=524288,
    )


def write_inputs(d: Path) -> dict[str, Path]:
    """base.pb.gz and new.pb.gz (NEW holds BASE's stacks grown and more) under ``d``."""
    from pprofencode import write_pprof

    out = {"base": d / "base.pb.gz", "new": d / "new.pb.gz"}
    out["base"].write_bytes(write_pprof(golden_profile(3000, 1)))
    out["new"].write_bytes(write_pprof(golden_profile(5000, 2)))
    return out
