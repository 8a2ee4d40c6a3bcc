"""Profile -> flame-graph tree: stacks merged root-first by function name, ready for the report.

The tree is built one depth level at a time in C (``profile._wire.trie``: a hash table of
(parent, name) per level): on the 1M-sample deep heap profile of benchmarks/parse_bench.py
0.26 s of CPU against 3.8 s with numpy (one ``np.unique`` sort of (parent, name) keys per
level, on frame arrays expanded for inlined lines). Then tiny nodes
are pruned: every child below a threshold is folded into one explicit "other" node of its
parent, so the page stays small and fast and still adds up; the report says what was pruned.

A differential tree (a base profile, or a profile with negative values such as a diff made by
``profile.ops``) carries, per node, the in-use total now (``t``), in the base (``b``), the net
change (``d = t - b``) and the growth (``g``): the sum of the positive per-stack changes below
the node, which is what a leak adds and what the growth flame graph's widths show.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from leaksleuth.errors import ProfileError, UsageError
from leaksleuth.profile import _wire
from leaksleuth.profile.frames import UNKNOWN_FUNCTION, function_name, unsymbolized_name
from leaksleuth.profile.model import Int64Array, Profile
from leaksleuth.profile.snapshot import Snapshot

OTHER_PREFIX = "(other: "
DEFAULT_MIN_FRACTION = 0.0005  # nodes under 0.05% of the largest root value are folded
DEFAULT_MAX_NODES = 4000  # and never more than this many nodes are kept


@dataclass(frozen=True)
class FlameGraph:
    """A pruned flame tree as nested JSON-ready dicts plus what the report needs to label it."""

    root: dict[str, Any]
    sample_type: str
    unit: str
    differential: bool
    total: int  # in-use total now (the root's ``t``)
    base_total: int
    growth: int  # the root's ``g``
    samples: int
    nodes: int  # nodes kept (including "other" nodes)
    nodes_before_pruning: int  # non-empty nodes built (a tiny node's callees are not built)
    pruned_nodes: int  # nodes folded into "other" nodes (each with all it calls)
    threshold: int  # nodes below this value were folded
    min_fraction: float
    max_nodes: int
    title: str = ""

    def largest_leafward(self, key: str = "g") -> str:
        """The name of the widest frame with no wider child (the hot spot), for summaries."""
        node = self.root
        while node.get("c"):
            child = max(node["c"], key=lambda c: c.get(key, 0))
            if child.get(key, 0) <= 0:
                break
            node = child
        return str(node["n"])

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "sample_type": self.sample_type,
            "unit": self.unit,
            "differential": self.differential,
            "total": self.total,
            "base_total": self.base_total,
            "growth": self.growth,
            "samples": self.samples,
            "nodes": self.nodes,
            "nodes_before_pruning": self.nodes_before_pruning,
            "pruned_nodes": self.pruned_nodes,
            "threshold": self.threshold,
            "min_fraction": self.min_fraction,
            "max_nodes": self.max_nodes,
            "title": self.title,
        }


@dataclass(frozen=True)
class _Frames:
    """Every sample's frames by name without copying the stacks: sample ``i``'s locations are
    ``locs[offs[i]:offs[i + 1]]`` (leaf first) and location ``l``'s names (inlined frames,
    innermost first) are ``loc_names[loc_start[l]:loc_start[l] + loc_len[l]]``."""

    offs: Int64Array
    locs: Int64Array
    loc_start: Int64Array
    loc_len: Int64Array
    loc_names: Int64Array
    name_table: tuple[str, ...]
    files: tuple[str, ...]


def _frames(profile: Profile) -> _Frames:
    """Name every frame of every stack (inlined lines expanded, innermost first)."""
    name_index: dict[str, int] = {}
    name_table: list[str] = []
    files: list[str] = []

    def intern(name: str, filename: str) -> int:
        k = name_index.get(name)
        if k is None:
            k = name_index[name] = len(name_table)
            name_table.append(name)
            files.append(filename)
        return k

    fn_name = [intern(UNKNOWN_FUNCTION, "")]
    for fn in profile.functions:
        fn_name.append(intern(function_name(fn), fn.filename))
    # per location: its name ids, innermost inlined frame first (as in profile.proto)
    loc_len = np.zeros(len(profile.locations) + 1, dtype=np.int64)
    loc_start = np.zeros(len(profile.locations) + 1, dtype=np.int64)
    loc_names: list[int] = [0]  # location id 0 does not exist
    for k, loc in enumerate(profile.locations, start=1):
        loc_start[k] = len(loc_names)
        if loc.lines:
            for ln in loc.lines:
                fid = ln.function_id
                loc_names.append(fn_name[fid] if 0 < fid < len(fn_name) else 0)
        else:
            loc_names.append(intern(unsymbolized_name(loc.address), ""))
        loc_len[k] = len(loc_names) - loc_start[k]
    locs = profile.stack_locations
    if len(locs) and (locs.min() < 1 or locs.max() > len(profile.locations)):
        raise ProfileError("profile has stack entries naming no location")
    return _Frames(profile.stack_offsets, locs, loc_start, loc_len,
                   np.asarray(loc_names, dtype=np.int64), tuple(name_table), tuple(files))


def _sum_up(self_vals: NDArray[np.int64], parent: Int64Array,
            levels: list[tuple[int, int]]) -> NDArray[np.int64]:
    """Subtree totals: add each level's totals into its parents, deepest level first."""
    # bincount with float weights is much faster than np.add.at here; sums stay exact
    # below 2**53.
    total = self_vals.copy()
    bounds = [(0, 1), *levels]  # a level's parents are all in the level above it
    for (plo, phi), (lo, hi) in reversed(list(zip(bounds, levels, strict=False))):
        add = np.bincount(parent[lo:hi] - plo, weights=total[lo:hi], minlength=phi - plo)
        total[plo:phi] += add.round().astype(np.int64)
    return total


def _pick_column(profile: Profile, sample_index: str | None) -> int:
    if sample_index is None and not profile.default_sample_type:
        for pref in ("inuse_space", "delay", "cpu", "contentions"):
            if any(st.type == pref for st in profile.sample_types):
                sample_index = pref
                break
    try:
        return profile.sample_type_index(sample_index)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None


def build_flame(profile: Profile, *, base: Profile | None = None,
                sample_index: str | None = None,
                min_fraction: float = DEFAULT_MIN_FRACTION,
                max_nodes: int = DEFAULT_MAX_NODES, title: str = "") -> FlameGraph:
    """Flame tree of ``profile`` (or of its change from ``base``) for one sample type.

    Negative values in ``profile`` (a diff) count as base; see the module docstring.
    """
    if profile.n_samples and not profile.sample_types:
        raise ProfileError("profile has no sample types")
    col = _pick_column(profile, sample_index)
    st = profile.sample_types[col] if profile.sample_types else None
    sample_type = st.type if st else "samples"
    unit = st.unit if st else "count"
    parts = [(profile, profile.values[:, col] if profile.n_samples else np.zeros(0, np.int64))]
    if base is not None:
        bcol = _pick_column(base, sample_type)
        parts.append((base, -base.values[:, bcol] if base.n_samples else np.zeros(0, np.int64)))

    # one name table over both profiles: build frames per profile, then re-map base names
    fr = _frames(profile)
    name_table = list(fr.name_table)
    files = list(fr.files)
    if base is not None:
        other = _frames(base)
        index = {nm: i for i, nm in enumerate(name_table)}
        remap = np.empty(len(other.name_table), dtype=np.int64)
        for i, nm in enumerate(other.name_table):
            if nm not in index:
                index[nm] = len(name_table)
                name_table.append(nm)
                files.append(other.files[i])
            remap[i] = index[nm]
        # base's locations follow the profile's, its names remapped into the shared table
        nl, nn = len(fr.loc_len), len(fr.loc_names)
        fr = _Frames(np.concatenate([fr.offs, other.offs[1:] + fr.offs[-1]]),
                     np.concatenate([fr.locs, other.locs + nl]),
                     np.concatenate([fr.loc_start, other.loc_start + nn]),
                     np.concatenate([fr.loc_len, other.loc_len]),
                     np.concatenate([fr.loc_names, remap[other.loc_names]]), (), ())
    values = np.concatenate([v for _, v in parts]).astype(np.int64)
    differential = base is not None or bool((values < 0).any())
    c64 = np.ascontiguousarray

    def walk(early: float, cur: Int64Array) -> tuple[bytes, bytes, bytes]:
        return _wire.trie(
            c64(fr.offs, np.int64), c64(fr.locs, np.int64), c64(fr.loc_start, np.int64),
            c64(fr.loc_len, np.int64), c64(fr.loc_names, np.int64), c64(values, np.int64),
            early, cur)

    return _tree(walk, values, differential, name_table, files, sample_type=sample_type,
                 unit=unit, min_fraction=min_fraction, max_nodes=max_nodes, title=title)


def flame_of_file(path: str, *, sample_index: str | None = None,
                  min_fraction: float = DEFAULT_MIN_FRACTION,
                  max_nodes: int = DEFAULT_MAX_NODES, title: str = "") -> FlameGraph:
    """``build_flame(read_profile(path))``, the same tree, without decoding the stacks.

    The walk reads each sample's location ids where they lie in the decompressed protobuf
    (``pprof.stack_spans``, ``_wire.trie_wire``): pruning stops most samples within a few
    levels of the root, so most ids are never decoded and no stacks array is made. On the
    1M-sample deep heap profile of benchmarks/parse_bench.py the whole `flame` command took
    0.94-0.98 s (1.05-1.10 s of CPU, 279 MB) against 1.56-1.62 s (1.62-1.70 s, 623 MB) with
    every stack decoded first (interleaved runs). Anything ``stack_spans`` does not take goes
    through ``read_profile``, which names any problem.
    """
    from leaksleuth.profile import pprof
    from leaksleuth.profile.formats import read_profile

    sp = pprof.stack_spans(path)
    if sp is None or (len(sp.values) and not sp.tables.sample_types):
        del sp
        return build_flame(read_profile(path), sample_index=sample_index,
                           min_fraction=min_fraction, max_nodes=max_nodes, title=title)
    tables = sp.tables
    col = _pick_column(tables, sample_index)
    st = tables.sample_types[col] if tables.sample_types else None
    fr = _frames(tables)
    values = np.ascontiguousarray(sp.values[:, col]) if len(sp.values) else np.zeros(0, np.int64)
    c64 = np.ascontiguousarray

    def walk(early: float, cur: Int64Array) -> tuple[bytes, bytes, bytes]:
        return _wire.trie_wire(sp.buf, sp.loc_a, sp.loc_b, sp.unpacked, sp.lut,
                               c64(fr.loc_start, np.int64), c64(fr.loc_len, np.int64),
                               c64(fr.loc_names, np.int64), values, early, cur)

    return _tree(walk, values, bool((values < 0).any()), list(fr.name_table), list(fr.files),
                 sample_type=st.type if st else "samples", unit=st.unit if st else "count",
                 min_fraction=min_fraction, max_nodes=max_nodes, title=title)


def _tree(walk: Callable[[float, Int64Array], tuple[bytes, bytes, bytes]],
          values: Int64Array, differential: bool, name_table: list[str], files: list[str], *,
          sample_type: str, unit: str, min_fraction: float, max_nodes: int,
          title: str) -> FlameGraph:
    """The trie of the samples (``walk``: the C walk over their stacks, given the early-stop
    threshold and each sample's deepest node to fill), its totals, pruning and assembly."""
    n = len(values)
    # the trie, level by level; node 0 is the root. Without a base every value is >= 0, a
    # node's total is known as soon as it is made, and a node under the pruning threshold
    # will be folded whatever lies below it: samples stop descending there.
    early = None if differential else max(int(np.ceil(int(values.sum()) * min_fraction)), 1)
    cur = np.zeros(n, dtype=np.int64)
    if len(name_table) >= 1 << 31:  # the C walk keeps name ids in 32 bits
        raise UsageError("profile has too many distinct function names for a flame graph")
    par_b, name_b, lev_b = walk(float(early or 0), cur)
    parent = np.frombuffer(par_b, np.int64)
    name_of = np.frombuffer(name_b, np.int64)
    lev = np.frombuffer(lev_b, np.int64).reshape(-1, 2)
    levels = [(int(lo), int(hi)) for lo, hi in lev.tolist()]
    n_nodes = len(parent)

    pos = np.where(values > 0, values, 0)
    neg = np.where(values < 0, -values, 0)
    self_t = np.bincount(cur, weights=pos, minlength=n_nodes).round().astype(np.int64)
    self_b = np.bincount(cur, weights=neg, minlength=n_nodes).round().astype(np.int64)
    tot_t = _sum_up(self_t, parent, levels)
    tot_b = _sum_up(self_b, parent, levels)
    tot_g = _sum_up(np.maximum(self_t - self_b, 0), parent, levels)

    # pruning: importance never grows from parent to child, so the kept set is a subtree
    importance = np.maximum(np.maximum(tot_t, tot_b), tot_g)
    top = int(max(tot_t[0], tot_b[0], tot_g[0], 1))
    threshold = max(int(np.ceil(top * min_fraction)), 1)
    if int((importance >= threshold).sum()) > max_nodes:
        # leave room for one "other" node per kept parent
        k = max(max_nodes // 2, 1)
        kth = np.partition(importance, len(importance) - k)[len(importance) - k]
        threshold = max(threshold, int(kth) + 1)
    keep = importance >= threshold
    keep[0] = True

    return _assemble(
        keep, importance > 0, parent, name_of, tot_t, tot_b, tot_g, name_table, files, differential,
        sample_type=sample_type, unit=unit, samples=n, threshold=threshold,
        min_fraction=min_fraction, max_nodes=max_nodes, title=title,
    )


def _assemble(keep: NDArray[np.bool_], nonzero: NDArray[np.bool_], parent: Int64Array,
              name_of: Int64Array,
              tot_t: Int64Array, tot_b: Int64Array, tot_g: Int64Array,
              name_table: list[str], files: list[str], differential: bool, *,
              sample_type: str, unit: str, samples: int, threshold: int,
              min_fraction: float, max_nodes: int, title: str) -> FlameGraph:
    """Nested dicts for the kept nodes; the dropped children of each parent become "other"."""
    def node(i: int, name: str, file: str, t: int, b: int, g: int) -> dict[str, Any]:
        out: dict[str, Any] = {"n": name, "t": t}
        if file:
            out["f"] = file
        if differential:
            out.update(b=b, d=t - b, g=g)
        return out

    dicts: dict[int, dict[str, Any]] = {}
    kept = np.flatnonzero(keep)
    for i in kept.tolist():
        if i == 0:
            dicts[0] = node(0, "all", "", int(tot_t[0]), int(tot_b[0]), int(tot_g[0]))
        else:
            nm = int(name_of[i])
            dicts[i] = node(i, name_table[nm], files[nm], int(tot_t[i]), int(tot_b[i]),
                            int(tot_g[i]))
    for i in kept.tolist():
        if i:
            dicts[int(parent[i])].setdefault("c", []).append(dicts[i])
    # fold dropped nodes whose parent is kept; empty ones (zero in every measure) just go
    dropped = np.flatnonzero(~keep & nonzero)
    dropped = dropped[keep[parent[dropped]]] if len(dropped) else dropped
    pruned_total = int((~keep & nonzero).sum())
    if len(dropped):
        par = parent[dropped]
        order = np.argsort(par, kind="stable")
        par_sorted = par[order]
        uniq, starts = np.unique(par_sorted, return_index=True)
        sums_t = np.add.reduceat(tot_t[dropped][order], starts)
        sums_b = np.add.reduceat(tot_b[dropped][order], starts)
        sums_g = np.add.reduceat(tot_g[dropped][order], starts)
        counts = np.diff(np.append(starts, len(order)))
        for j, p in enumerate(uniq.tolist()):
            c = int(counts[j])
            label = f"{OTHER_PREFIX}{c} smaller frame{'s' if c != 1 else ''})"
            other = node(-1, label, "", int(sums_t[j]), int(sums_b[j]), int(sums_g[j]))
            other["o"] = c
            dicts[p].setdefault("c", []).append(other)
    n_kept_nodes = len(kept) + (len(np.unique(parent[dropped])) if len(dropped) else 0)
    for dct in dicts.values():
        if "c" in dct:
            dct["c"].sort(key=lambda c: (c["n"].startswith(OTHER_PREFIX) and "o" in c, c["n"]))
    root = dicts[0]
    return FlameGraph(
        root=root, sample_type=sample_type, unit=unit, differential=differential,
        total=int(tot_t[0]), base_total=int(tot_b[0]), growth=int(tot_g[0]), samples=samples,
        nodes=n_kept_nodes, nodes_before_pruning=int(nonzero.sum()), pruned_nodes=pruned_total,
        threshold=threshold, min_fraction=min_fraction, max_nodes=max_nodes, title=title,
    )


def growth_flame(snapshots: Sequence[Snapshot], *, sample_index: str = "inuse_space",
                 **kw: Any) -> FlameGraph | None:
    """The differential flame graph of in-use growth from the first to the last heap profile.

    With one heap profile it is a plain flame graph of it; with none, None. Profiles that do
    not parse (or lack ``sample_index``) are skipped, as the analysis skips them: the nearest
    good ones are used.
    """
    heaps = [s for s in snapshots if s.heap_loader is not None]

    def first_good(order: Sequence[Snapshot]) -> tuple[Snapshot, Profile] | None:
        for snap in order:
            try:
                p = snap.heap()
            except ProfileError:
                continue
            if p is not None and any(st.type == sample_index for st in p.sample_types):
                return snap, p
        return None

    found_last = first_good(heaps[::-1])
    if found_last is None:
        return None
    s_last, last = found_last
    found_first = first_good([s for s in heaps if s.seq < s_last.seq])
    first = found_first[1] if found_first else None
    title = (f"snapshots {found_first[0].seq} → {s_last.seq}" if found_first
             else f"snapshot {s_last.seq}")
    return build_flame(last, base=first, sample_index=sample_index, title=title, **kw)
