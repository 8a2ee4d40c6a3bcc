"""Flame trees from profiles: merging, inlining, diffs, pruning, and the CLI's `flame` command."""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from flamehelp import HEAP_TYPES, make_profile
from leaksleuth.cli import main
from leaksleuth.errors import UsageError
from leaksleuth.profile.model import Function, Line, Location, Profile, ValueType
from leaksleuth.report.flame import OTHER_PREFIX, build_flame
from pprofencode import write_pprof


def child(node: dict[str, Any], name: str) -> dict[str, Any]:
    matches = [c for c in node.get("c", []) if c["n"] == name]
    assert len(matches) == 1, f"{name} not a single child of {node['n']}"
    return matches[0]


def test_stacks_merge_root_first_by_function_name() -> None:
    p = make_profile([(["main", "a", "b"], 10), (["main", "a", "c"], 5), (["main", "d"], 1),
                      ([], 2)])
    f = build_flame(p)
    assert not f.differential
    assert f.root["t"] == 18 and f.total == 18
    main_ = child(f.root, "main")
    assert main_["t"] == 16
    a = child(main_, "a")
    assert a["t"] == 15
    assert [c["n"] for c in a["c"]] == ["b", "c"]
    assert child(a, "b")["t"] == 10 and child(main_, "d")["t"] == 1
    assert "g" not in a and "d" not in a
    assert f.largest_leafward("t") == "b"


def test_same_name_in_two_functions_merges_and_inlined_frames_expand() -> None:
    # function 2 and 3 share a name (e.g. two mappings); location 2 has two inlined lines:
    # lines[0] is the innermost (inl), lines[1] the caller (outer).
    functions = (Function(1, "main"), Function(2, "work"), Function(3, "work"),
                 Function(4, "inl"), Function(5, "outer"))
    locations = (Location(1, lines=(Line(1),)), Location(2, lines=(Line(4), Line(5))),
                 Location(3, lines=(Line(2),)), Location(4, lines=(Line(3),)),
                 Location(5, address=0xBEEF))
    # leaf-first stacks: [2,1] = main > outer > inl ; [3,1] and [4,1] = main > work; [5] raw pc
    p = Profile(sample_types=(ValueType("inuse_space", "bytes"),),
                values=np.array([[7], [3], [4], [1]]),
                stack_offsets=np.array([0, 2, 4, 6, 7]),
                stack_locations=np.array([2, 1, 3, 1, 4, 1, 5]),
                locations=locations, functions=functions)
    f = build_flame(p)
    m = child(f.root, "main")
    assert child(child(m, "outer"), "inl")["t"] == 7
    assert child(m, "work")["t"] == 7  # 3 + 4 merged by name
    assert child(f.root, "0xbeef")["t"] == 1


def test_differential_figures_per_node() -> None:
    new = make_profile([(["main", "a", "b"], 10), (["main", "a", "c"], 5), (["main", "d"], 1)])
    base = make_profile([(["main", "a", "b"], 4), (["main", "d"], 3)])
    f = build_flame(new, base=base)
    assert f.differential
    a = child(child(f.root, "main"), "a")
    assert (a["t"], a["b"], a["d"], a["g"]) == (15, 4, 11, 11)
    d = child(child(f.root, "main"), "d")
    assert (d["t"], d["b"], d["d"], d["g"]) == (1, 3, -2, 0)
    # growth counts only what grew: main's net change is 9, its growth 11
    m = child(f.root, "main")
    assert (m["d"], m["g"]) == (9, 11)
    assert f.growth == 11 and f.base_total == 7
    assert f.largest_leafward() == "b"


def test_a_negated_merge_is_the_same_diff_as_a_base() -> None:
    """A diff profile (new plus negated base, as profile.ops makes it) gives the same tree."""
    stacks_new = [(["main", "a", "b"], 10), (["main", "d"], 1)]
    stacks_base = [(["main", "a", "b"], 4), (["main", "d"], 3)]
    merged = make_profile(stacks_new + [(s, -v) for s, v in stacks_base])
    with_base = build_flame(make_profile(stacks_new), base=make_profile(stacks_base))
    assert build_flame(merged).root == with_base.root


def naive_tree(stacks: list[tuple[list[str], int]]) -> dict[tuple[str, ...], int]:
    """Total per root-first path, by brute force."""
    out: dict[tuple[str, ...], int] = defaultdict(int)
    for stack, v in stacks:
        out[()] += v
        for i in range(1, len(stack) + 1):
            out[tuple(stack[:i])] += v
    return dict(out)


def flatten(node: dict[str, Any], path: tuple[str, ...] = ()) -> dict[tuple[str, ...], int]:
    out = {path: node["t"]}
    for c in node.get("c", []):
        out.update(flatten(c, (*path, c["n"])))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_matches_brute_force_on_random_profiles(seed: int) -> None:
    rng = random.Random(seed)
    names = [f"f{i}" for i in range(6)]
    stacks = [([rng.choice(names) for _ in range(rng.randint(0, 6))], rng.randint(1, 100))
              for _ in range(60)]
    f = build_flame(make_profile(stacks), min_fraction=0.0)
    assert flatten(f.root) == naive_tree(stacks)
    assert f.pruned_nodes == 0


def test_pruning_folds_tiny_frames_into_other_and_still_adds_up() -> None:
    stacks: list[tuple[list[str], int]] = [(["main", "leak"], 1_000_000)]
    stacks += [(["main", "noise", f"tiny{i}"], 1) for i in range(3000)]
    f = build_flame(make_profile(stacks), min_fraction=0.001, max_nodes=500)
    noise = child(child(f.root, "main"), "noise")
    others = [c for c in noise["c"] if c["n"].startswith(OTHER_PREFIX)]
    assert len(others) == 1 and others[0]["o"] == 3000 and others[0]["t"] == 3000
    assert f.pruned_nodes == 3000 and f.nodes == 5  # all, main, leak, noise, other

    def check_sums(n: dict[str, Any]) -> None:
        if "c" in n:
            assert sum(c["t"] for c in n["c"]) <= n["t"]
            for c in n["c"]:
                check_sums(c)

    check_sums(f.root)
    assert f.root["t"] == 1_003_000


def test_node_cap_keeps_the_biggest() -> None:
    stacks = [(["main", f"f{i}"], 1000 + i) for i in range(200)]
    f = build_flame(make_profile(stacks), min_fraction=0.0, max_nodes=50)
    kept = [c for c in child(f.root, "main")["c"] if not c["n"].startswith(OTHER_PREFIX)]
    assert 0 < len(kept) <= 25
    assert min(c["t"] for c in kept) > max(1000 + i for i in range(200)
                                            if f"f{i}" not in {c["n"] for c in kept})


def test_sample_index_choice_and_errors() -> None:
    p = make_profile([(["main"], 5)])
    assert build_flame(p).sample_type == "inuse_space"
    assert build_flame(p, sample_index="alloc_objects").unit == "count"
    with pytest.raises(UsageError, match="no sample type"):
        build_flame(p, sample_index="cpu")
    empty = make_profile([])
    assert build_flame(empty).root == {"n": "all", "t": 0}
    assert len(HEAP_TYPES) == 4


def test_flame_command_writes_html_and_reports_bad_input(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("leaksleuth.profile.pprof")
    prof = make_profile([(["main.main", "main.leak"], 4096), (["main.main", "main.ok"], 512)])
    path = tmp_path / "heap.pb"
    path.write_bytes(write_pprof(prof))
    out = tmp_path / "f.html"
    assert main(["flame", str(path), "--html", str(out)]) == 0
    html = out.read_text()
    assert "main.leak" in html and html.startswith("<!DOCTYPE html>")
    assert main(["flame", str(path), "--base", str(path), "--html", str(out)]) == 0
    capsys.readouterr()
    assert main(["flame", str(path), "--sample-index", "cpu", "--html", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no sample type 'cpu'" in err
    assert main(["flame", str(tmp_path / "missing.pb"), "--html", str(out)]) == 2
    assert "no such file" in capsys.readouterr().err
    garbage = tmp_path / "page.html"
    garbage.write_text("<html>error</html>")
    assert main(["flame", str(garbage), "--html", str(out)]) == 2
    assert "HTML page" in capsys.readouterr().err
    assert main(["flame", str(path), "--html", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_growth_flame_uses_first_and_last_heap() -> None:
    from leaksleuth.profile.snapshot import Snapshot
    from leaksleuth.report.flame import growth_flame

    profiles = [make_profile([(["main", "leak"], 100 * (i + 1)), (["main", "steady"], 50)])
                for i in range(4)]
    loaded: list[int] = []

    def loader(i: int) -> Any:
        def load() -> Any:
            loaded.append(i)
            return profiles[i]
        return load

    snaps = [Snapshot(seq=i, time=float(i), heap_loader=loader(i)) for i in range(4)]
    snaps.append(Snapshot(seq=4, time=4.0))  # a tick whose heap fetch failed
    f = growth_flame(snaps)
    assert f is not None and f.differential and sorted(loaded) == [0, 3]
    m = child(f.root, "main")
    assert child(m, "leak")["g"] == 300 and child(m, "steady")["g"] == 0
    assert f.title == "snapshots 0 → 3"
    single = growth_flame(snaps[:1])
    assert single is not None and not single.differential and single.total == 150
    assert growth_flame([Snapshot(seq=0, time=0.0)]) is None


def strip_diff(node: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in node.items() if k not in ("b", "d", "g", "c")}
    if "c" in node:
        out["c"] = [strip_diff(c) for c in node["c"]]
    return out


@pytest.mark.parametrize("seed", range(3))
def test_early_stop_below_threshold_keeps_the_same_tree(seed: int) -> None:
    """Without a base, tiny subtrees are not even built; the kept tree must not change."""
    rng = random.Random(seed)
    names = [f"f{i}" for i in range(8)]
    stacks = [([rng.choice(names) for _ in range(rng.randint(1, 9))],
               rng.choice([1, 2, 5, 1000, 50_000])) for _ in range(2000)]
    p = make_profile(stacks)
    fast = build_flame(p, min_fraction=0.002)
    full = build_flame(p, base=make_profile([]), min_fraction=0.002)  # a base: no early stop
    assert not fast.differential and full.differential
    assert fast.pruned_nodes > 0 and fast.nodes_before_pruning < full.nodes_before_pruning
    assert strip_diff(fast.root) == strip_diff(full.root)
