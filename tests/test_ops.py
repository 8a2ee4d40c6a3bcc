"""Profile operations on small hand-made profiles with known answers."""

from __future__ import annotations

import numpy as np
import pytest

import refops
from leaksleuth.errors import ProfileError
from leaksleuth.profile import ops, summary
from leaksleuth.profile.model import Profile
from leaksleuth.profile.pprof import parse_pprof
from pprofbuild import Builder, field_varint, resolved


def _profile(samples: list[tuple[list[int], int, list[tuple[str, str | int]]]],
             names: tuple[str, ...] = ("main.leaf", "main.mid", "main.root", "runtime.x"),
             inline: bool = False) -> Profile:
    b = Builder([("inuse_space", "bytes")])
    for i, nm in enumerate(names, 1):
        b.function(i, nm)
        b.location(i, [i])
    if inline:
        b.location(len(names) + 1, [1, 2])  # main.leaf inlined into main.mid
    for stack, v, labels in samples:
        b.sample(stack, [v], labels=labels)
    return parse_pprof(b.build(), "t")


def _rows(res: summary.TopResult) -> list[tuple[str, int, int]]:
    return [(r.name, r.flat, r.cum) for r in res.rows]


def test_flat_cum_and_recursion_counted_once() -> None:
    p = _profile([([1, 2, 3], 100, []), ([2, 2, 2, 3], 10, []), ([3], 1, [])])
    agg = refops.aggregate_functions(p, 0)
    got = {n: (int(f), int(c)) for n, f, c in zip(agg.names, agg.flat, agg.cum, strict=True)}
    assert got["main.leaf"] == (100, 100)
    assert got["main.mid"] == (10, 110)  # recursive sample counted once
    assert got["main.root"] == (1, 111)
    assert agg.total == 111


def test_inlined_frames_are_functions() -> None:
    p = _profile([([5, 3], 7, [])], inline=True)
    res = summary.top(p)
    assert _rows(res) == [("main.leaf", 7, 7), ("main.mid", 0, 7), ("main.root", 0, 7)]


def test_sort_ties_by_name_and_nodecount() -> None:
    p = _profile([([1, 3], 5, []), ([2, 3], 5, []), ([4], 1, [])])
    res = summary.top(p, nodecount=2)
    assert [r.name for r in res.rows] == ["main.leaf", "main.mid"]  # equal flat: by name
    assert res.node_count == 4 and res.shown == 10 and res.total == 11
    cum = summary.top(p, cum_sort=True)
    assert cum.rows[0].name == "main.root"


def test_node_fraction_drops_small_nodes() -> None:
    p = _profile([([1, 3], 10_000, []), ([4], 3, [])])
    res = summary.top(p)
    assert "runtime.x" not in [r.name for r in res.rows] and res.dropped_nodes == 1


def test_merge_sums_identical_samples_and_keeps_labels_apart() -> None:
    a = _profile([([1, 3], 5, [("bytes", 8)]), ([2, 3], 1, [])])
    b = _profile([([1, 3], 7, [("bytes", 8)]), ([1, 3], 2, [("bytes", 16)])])
    m = refops.merge([a, b])
    assert m.n_samples == 3
    assert sorted(m.values[:, 0].tolist()) == [1, 2, 12]
    assert len({tuple(m.stack(i).tolist()) for i in range(m.n_samples)}) == 2


def test_subtract_is_negated_merge_and_cancels() -> None:
    base = _profile([([1, 3], 5, []), ([2, 3], 4, [])])
    new = _profile([([1, 3], 5, []), ([2, 3], 10, []), ([4], 3, [])])
    d = refops.subtract(new, base)
    assert d.n_samples == 2  # the equal sample cancelled and was dropped
    assert sorted(d.values[:, 0].tolist()) == [3, 6]
    assert resolved(refops.scale(refops.scale(base, -1), -1)) == resolved(base)


def test_diff_top_equals_top_of_subtract() -> None:
    base = _profile([([1, 2, 3], 50, [("bytes", 8)]), ([2, 3], 4, []), ([4], 9, [])])
    new = _profile([([1, 2, 3], 20, [("bytes", 8)]), ([1, 2, 3], 5, [("bytes", 16)]),
                    ([2, 3], 10, []), ([4], 9, [])])
    for cum in (False, True):
        fast = summary.diff_top(base, new, cum_sort=cum)
        slow = summary.top(refops.subtract(new, base), cum_sort=cum)
        assert _rows(fast) == _rows(slow)
        assert fast.total == slow.total == 30 + 5 + 6
    assert ("main.leaf", -25, -25) in _rows(summary.diff_top(base, new))


def test_diff_rejects_incompatible() -> None:
    a = _profile([([1], 1, [])])
    b = parse_pprof(Builder([("goroutine", "count")]).function(1, "f").location(1, [1])
                    .sample([1], [1]).build(), "g")
    with pytest.raises(ProfileError, match="incompatible"):
        summary.diff_top(a, b)
    with pytest.raises(ProfileError, match="incompatible"):
        refops.merge([a, b])


def test_focus_ignore_hide_show() -> None:
    p = _profile([([1, 2, 3], 5, []), ([2, 3], 4, []), ([4], 1, [])])
    assert refops.focus(p, "leaf").n_samples == 1
    assert refops.ignore(p, "mid").n_samples == 1
    res = summary.top(p, focus_re="mid")
    assert res.total == 10 and res.shown == 9  # percentages stay relative to everything
    hidden = refops.hide(p, "leaf")
    assert hidden.n_samples == 3 and len(hidden.stack(0)) == 2
    shown = refops.show(p, "root")
    assert [len(shown.stack(i)) for i in range(3)] == [1, 1, 0]
    with pytest.raises(ProfileError, match="regular expression"):
        refops.focus(p, "(")


def test_prune_drop_frames() -> None:
    b = Builder([("inuse_space", "bytes")])
    for i, nm in enumerate(("runtime.mallocgc", "runtime.newobject", "main.alloc", "main.main"),
                           1):
        b.function(i, nm).location(i, [i])
    b.sample([1, 2, 3, 4], [8])
    b.sample([1, 2], [2])  # only dropped frames: kept whole (no user frame above)
    drop = b.s("runtime\\..*")
    p = parse_pprof(b.build() + field_varint(7, drop), "t")
    assert p.drop_frames == "runtime\\..*"
    q = ops.prune(p)
    assert q.stack(0).tolist() == [3, 4]
    assert q.stack(1).tolist() == [1, 2]
    assert _rows(summary.top(p))[0] == ("main.alloc", 8, 8)


def test_aggregate_stacks_and_select() -> None:
    p = _profile([([1, 3], 5, []), ([1, 3], 2, [("bytes", 1)]), ([2, 3], 1, [])])
    st = refops.aggregate_stacks(p)
    assert st.stacks == ((1, 3), (2, 3)) and st.values[:, 0].tolist() == [7, 1]
    sel = ops.select_samples(p, np.array([False, True, True]))
    assert sel.n_samples == 2 and sel.num_labels.sample.tolist() == [0]
