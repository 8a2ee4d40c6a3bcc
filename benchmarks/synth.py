"""A synthetic heap profile of many distinct stacks, built directly as columnar arrays."""

from __future__ import annotations

import numpy as np

from leaksleuth.profile.model import Function, Line, Location, Profile, ValueType


def synthetic_profile(n_samples: int = 1 << 20, n_functions: int = 20_000, seed: int = 1,
                      leak_fraction: float = 0.3) -> Profile:
    """``n_samples`` distinct stacks over ``n_functions`` functions, depth 6..24.

    A share ``leak_fraction`` of the bytes sits under ``main.leakyCache.Put``, so the profile has
    one obvious hot spot, like a leaking service; the rest is spread thin.
    """
    rng = np.random.default_rng(seed)
    depth = rng.integers(6, 25, size=n_samples)
    offsets = np.zeros(n_samples + 1, dtype=np.int64)
    np.cumsum(depth, out=offsets[1:])
    # a shallow shared prefix (so stacks merge), then random frames (so they are distinct)
    # Zipf-skewed frames: a few callees are common (wide frames), most are rare (the long tail)
    frames = 5 + (rng.zipf(1.6, size=int(offsets[-1])) - 1) % (n_functions - 4)
    sample_of = np.repeat(np.arange(n_samples), depth)
    pos = np.arange(len(frames)) - offsets[sample_of]
    leaf_first_pos_from_root = depth[sample_of] - 1 - pos  # 0 = root
    frames[leaf_first_pos_from_root == 0] = 1  # main.main
    frames[leaf_first_pos_from_root == 1] = 2 + (sample_of[leaf_first_pos_from_root == 1] % 2)
    leaky = rng.random(n_samples) < leak_fraction / 10
    frames[(leaf_first_pos_from_root == 1) & leaky[sample_of]] = 4  # main.leakyCache.Put
    values = rng.integers(16, 4096, size=n_samples).astype(np.int64)
    values[leaky] *= 10
    names = ["main.main", "main.serve", "main.worker", "main.leakyCache.Put"]
    names += [f"example.com/svc/pkg{i % 97}.Func{i}" for i in range(5, n_functions + 1)]
    functions = tuple(Function(id=i + 1, name=nm, filename=f"/src/pkg{i % 97}/f.go")
                      for i, nm in enumerate(names))
    locations = tuple(Location(id=i, address=0x400000 + 16 * i, lines=(Line(i, 10),))
                      for i in range(1, n_functions + 1))
    types = (ValueType("inuse_objects", "count"), ValueType("inuse_space", "bytes"))
    vals = np.stack([np.ones(n_samples, dtype=np.int64), values], axis=1)
    return Profile(sample_types=types, values=vals, stack_offsets=offsets,
                   stack_locations=frames, locations=locations, functions=functions)
