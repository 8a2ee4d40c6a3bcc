"""Pure operations on ``Profile``: merge, scale, subtract, filter, prune and aggregate.

Every function returns a new ``Profile`` or a small immutable result; nothing prints or does
I/O. Sample-level work is vectorised with numpy so million-sample profiles stay fast; the
per-location and per-function work (thousands of objects) is plain Python.

Semantics follow google/pprof where a user would compare the two: a diff is
``merge([new, scale(base, -1)])``; cumulative values count a function once per sample even
when it recurses; inlined frames are functions of their own; ``prune`` is pprof's drop_frames.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from leaksleuth.errors import ProfileError
from leaksleuth.profile.model import (
    Function,
    Int64Array,
    Labels,
    Line,
    Location,
    Mapping,
    Profile,
    frozen_array,
)

BoolArray = NDArray[np.bool_]


# ---------------------------------------------------------------------------------------------
# small vectorised helpers


def ranges_to_index(a: Int64Array, b: Int64Array) -> Int64Array:
    """Concatenation of ``arange(a[i], b[i])`` for every i, without a Python loop."""
    a = np.asarray(a, np.int64)
    lens = np.asarray(b, np.int64) - a
    keep = lens > 0
    a, lens = a[keep], lens[keep]
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    step = np.ones(total, np.int64)
    step[0] = a[0]
    heads = np.cumsum(lens)[:-1]
    step[heads] = a[1:] - (a[:-1] + lens[:-1] - 1)
    return np.cumsum(step)


def _stack_lengths(p: Profile) -> Int64Array:
    return np.diff(p.stack_offsets)


def _sample_of_entry(p: Profile) -> Int64Array:
    """For each entry of ``stack_locations``, the sample it belongs to."""
    return np.repeat(np.arange(p.n_samples, dtype=np.int64), _stack_lengths(p))


def _any_per_sample(p: Profile, loc_flag: BoolArray) -> BoolArray:
    """True for samples whose stack holds a location with ``loc_flag[loc_id]`` set."""
    hit = loc_flag[p.stack_locations]
    out: BoolArray = np.zeros(p.n_samples, bool)
    starts = p.stack_offsets[:-1]
    nonempty = np.flatnonzero(_stack_lengths(p) > 0)
    if len(nonempty):  # an OR per stack, without a sample index per frame (8 bytes each)
        out[nonempty] = np.logical_or.reduceat(hit, starts[nonempty])
    return out


def select_samples(p: Profile, keep: BoolArray) -> Profile:
    """A profile holding only the samples where ``keep`` is true (labels follow)."""
    keep = np.asarray(keep, bool)
    if keep.all():
        return p
    idx = np.flatnonzero(keep)
    lens = _stack_lengths(p)[idx]
    offsets = np.zeros(len(idx) + 1, np.int64)
    np.cumsum(lens, out=offsets[1:])
    entries = ranges_to_index(p.stack_offsets[idx], p.stack_offsets[idx + 1])
    new_index = np.full(p.n_samples, -1, np.int64)
    new_index[idx] = np.arange(len(idx))

    def labels(lab: Labels) -> Labels:
        k = keep[lab.sample]
        return Labels(new_index[lab.sample[k]], lab.key[k], lab.value[k], lab.unit[k])

    return _replace(
        p, values=p.values[idx], stack_offsets=offsets, stack_locations=p.stack_locations[entries],
        str_labels=labels(p.str_labels), num_labels=labels(p.num_labels),
    )


def _replace(p: Profile, **changes: Any) -> Profile:
    kw = {f: getattr(p, f) for f in Profile.__dataclass_fields__}
    kw.update(changes)
    return Profile(**kw)


def _with_stacks(p: Profile, entry_keep: BoolArray) -> Profile:
    """Keep only the stack entries flagged in ``entry_keep`` (samples themselves stay)."""
    owner = _sample_of_entry(p)[entry_keep]
    offsets = np.zeros(p.n_samples + 1, np.int64)
    np.cumsum(np.bincount(owner, minlength=p.n_samples), out=offsets[1:])
    return _replace(p, stack_offsets=offsets, stack_locations=p.stack_locations[entry_keep])


# ---------------------------------------------------------------------------------------------
# scale, merge, subtract


def scale(p: Profile, factor: float) -> Profile:
    """Multiply every sample value by ``factor`` (rounded to integers, as pprof does)."""
    if factor == 1:
        return p
    if float(factor).is_integer():
        values = p.values * np.int64(int(factor))
    else:
        values = np.rint(p.values.astype(np.float64) * factor).astype(np.int64)
    return _replace(p, values=values)


def _mix(x: Int64Array, salt: int) -> NDArray[np.uint64]:
    """A 64-bit integer hash (splitmix64 finaliser), vectorised."""
    with np.errstate(over="ignore"):  # in place: two arrays of len(x) at a time, not five
        z: NDArray[np.uint64] = x.astype(np.uint64)  # a copy: x is never changed
        z += np.uint64((0x9E3779B97F4A7C15 * (salt + 1)) & (2**64 - 1))
        t = z >> np.uint64(30)
        z ^= t
        z *= np.uint64(0xBF58476D1CE4E5B9)
        np.right_shift(z, np.uint64(27), out=t)
        z ^= t
        z *= np.uint64(0x94D049BB133111EB)
        np.right_shift(z, np.uint64(31), out=t)
        z ^= t
    return z


def sample_keys(p: Profile, str_ids: Int64Array | None = None) -> NDArray[np.uint64]:
    """Two independent 64-bit hashes per sample of (stack, labels), shape (n, 2).

    Identical stacks and label sets hash equal; a false match needs a 128-bit collision
    (about n^2 / 2^129: negligible even at 10^8 samples). ``str_ids`` maps the profile's
    string indices to global ones so keys compare across profiles.
    """
    n = p.n_samples
    out = np.zeros((n, 2), np.uint64)
    owner = _sample_of_entry(p)
    pos = np.arange(len(p.stack_locations), dtype=np.int64) - p.stack_offsets[owner]
    with np.errstate(over="ignore"):
        for col in range(2):
            h = _mix(p.stack_locations * np.int64(1 << 20) + pos, 10 + col)
            acc = np.zeros(n, np.uint64)
            _add_by_owner(acc, owner, h)
            acc += _mix(_stack_lengths(p), 20 + col)
            for lab, kind in ((p.str_labels, 1), (p.num_labels, 2)):
                if len(lab) == 0:
                    continue
                key = lab.key if str_ids is None else str_ids[lab.key]
                val = lab.value if (str_ids is None or kind == 2) else str_ids[lab.value]
                unit = lab.unit if (str_ids is None or kind == 1) else str_ids[lab.unit]
                lh = _mix(key * np.int64(1 << 32) + kind, 30 + col) ^ _mix(val, 40 + col)
                lh ^= _mix(unit, 50 + col)
                _add_by_owner(acc, lab.sample, lh)
            out[:, col] = acc
    return out


def _add_by_owner(acc: NDArray[np.uint64], owner: Int64Array, h: NDArray[np.uint64]) -> None:
    """acc[owner[i]] += h[i] (wrapping); owner is sorted, so a segmented sum works."""
    if len(owner) == 0:
        return
    if np.all(owner[1:] >= owner[:-1]):
        o, hv = owner, h
    else:
        order = np.argsort(owner, kind="stable")
        o, hv = owner[order], h[order]
    starts = np.flatnonzero(np.r_[True, o[1:] != o[:-1]])
    with np.errstate(over="ignore"):
        sums = np.add.reduceat(hv, starts)
        acc[o[starts]] += sums


def _check_compatible(a: Profile, b: Profile) -> None:
    """Profiles can be merged or subtracted only with the same sample types and units."""
    if [(t.type, t.unit) for t in b.sample_types] != [(t.type, t.unit) for t in a.sample_types]:
        raise ProfileError(
            "incompatible profiles: sample types "
            f"{[t.type for t in a.sample_types]} vs {[t.type for t in b.sample_types]}"
        )


def merge(profiles: Sequence[Profile]) -> Profile:
    """One profile holding every sample of ``profiles``; identical samples are summed.

    Functions unify on (name, system name, file, start line), mappings on (file, build id,
    size, offset), locations on (mapping, address, lines) and samples on (stack, labels), so
    samples of the same code in two profiles of one program add up (or cancel in a diff).
    Samples whose values are all zero are dropped, as pprof does.
    """
    if not profiles:
        raise ProfileError("nothing to merge")
    first = profiles[0]
    types = first.sample_types
    for q in profiles[1:]:
        _check_compatible(first, q)
    strings: dict[str, int] = {"": 0}
    funcs: dict[tuple[str, str, str, int], int] = {}
    maps: dict[tuple[str, str, int, int], int] = {}
    locs: dict[tuple[int, int, tuple[tuple[int, int, int], ...], bool], int] = {}
    out_funcs: list[Function] = []
    out_maps: list[Mapping] = []
    out_locs: list[Location] = []
    stacks: list[Int64Array] = []
    lens: list[Int64Array] = []
    vals: list[Int64Array] = []
    labs: dict[str, list[tuple[Int64Array, Int64Array, Int64Array, Int64Array]]] = {
        "str": [], "num": []
    }
    base = 0
    for q in profiles:
        sid = np.array([strings.setdefault(s, len(strings)) for s in q.strings] or [0], np.int64)
        fmap = np.zeros(len(q.functions) + 1, np.int64)
        for f in q.functions:
            fk = (f.name, f.system_name, f.filename, f.start_line)
            if fk not in funcs:
                funcs[fk] = len(funcs) + 1
                out_funcs.append(Function(funcs[fk], *fk))
            fmap[f.id] = funcs[fk]
        mmap = np.zeros(len(q.mappings) + 1, np.int64)
        for m in q.mappings:
            mk = (m.filename, m.build_id, m.limit - m.start, m.offset)
            if mk not in maps:
                maps[mk] = len(maps) + 1
                out_maps.append(Mapping(maps[mk], m.start, m.limit, m.offset, m.filename,
                                        m.build_id, m.has_functions, m.has_filenames,
                                        m.has_line_numbers, m.has_inline_frames))
            mmap[m.id] = maps[mk]
        lmap = np.zeros(len(q.locations) + 1, np.int64)
        for loc in q.locations:
            lines = tuple((int(fmap[ln.function_id]), ln.line, ln.column) for ln in loc.lines)
            lk = (int(mmap[loc.mapping_id]), loc.address, lines, loc.is_folded)
            if lk not in locs:
                locs[lk] = len(locs) + 1
                out_locs.append(Location(locs[lk], lk[0], loc.address,
                                         tuple(Line(*x) for x in lines), loc.is_folded))
            lmap[loc.id] = locs[lk]
        stacks.append(lmap[q.stack_locations])
        lens.append(_stack_lengths(q))
        vals.append(q.values)
        for name, lab in (("str", q.str_labels), ("num", q.num_labels)):
            value = sid[lab.value] if name == "str" else lab.value
            labs[name].append((lab.sample + base, sid[lab.key], value, sid[lab.unit]))
        base += q.n_samples
    offsets = np.zeros(base + 1, np.int64)
    np.cumsum(np.concatenate(lens), out=offsets[1:])

    def cat_labels(rows: Sequence[tuple[Int64Array, Int64Array, Int64Array, Int64Array]]
                   ) -> Labels:
        return Labels(*(np.concatenate([r[i] for r in rows]) for i in range(4)))

    table = tuple(sorted(strings, key=strings.__getitem__))
    cat = Profile(
        sample_types=types,
        values=np.concatenate(vals).reshape(base, len(types)),
        stack_offsets=offsets,
        stack_locations=np.concatenate(stacks),
        locations=tuple(out_locs),
        functions=tuple(out_funcs),
        mappings=tuple(out_maps),
        strings=table,
        str_labels=cat_labels(labs["str"]),
        num_labels=cat_labels(labs["num"]),
        period_type=first.period_type,
        period=max(q.period for q in profiles),
        time_nanos=min((q.time_nanos for q in profiles if q.time_nanos), default=0),
        duration_nanos=sum(q.duration_nanos for q in profiles),
        drop_frames=first.drop_frames,
        keep_frames=first.keep_frames,
        comments=tuple(c for q in profiles for c in q.comments),
        default_sample_type=first.default_sample_type,
        doc_url=first.doc_url,
    )
    return combine_identical(cat)


def _sum_equal(keys: NDArray[np.uint64], values: Int64Array) -> tuple[Int64Array, Int64Array]:
    """Rows of ``values`` summed over equal ``keys``: (first row of each key, sums), in
    first-seen order."""
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    summed = np.zeros((len(first), values.shape[1]), np.int64)
    np.add.at(summed, inverse.reshape(-1), values)
    order = np.argsort(first, kind="stable")
    return first[order], summed[order]


def combine_identical(p: Profile) -> Profile:
    """Sum samples with equal stacks and labels; drop samples whose values are all zero."""
    n = p.n_samples
    if n == 0:
        return p
    first, summed = _sum_equal(sample_keys(p), p.values)
    keep = np.zeros(n, bool)
    keep[first[np.any(summed != 0, axis=1)]] = True
    slot = np.full(n, -1, np.int64)
    slot[first] = np.arange(len(first))
    out = select_samples(p, keep)
    return _replace(out, values=summed[slot[np.flatnonzero(keep)]])


def subtract(new: Profile, base: Profile) -> Profile:
    """``new - base``, pprof's ``-base``: a merge with the base scaled by -1."""
    return merge([new, scale(base, -1)])


# ---------------------------------------------------------------------------------------------
# filters


def _function_match(p: Profile, pattern: str | re.Pattern[str], files: bool = False
                    ) -> BoolArray:
    """Per function id (index 0 = none): does its name (or file) match ``pattern`` (a search)?"""
    rx = _compile(pattern)
    out = np.zeros(len(p.functions) + 1, bool)
    for f in p.functions:
        out[f.id] = rx.search(f.name) is not None or (
            files and bool(f.filename) and rx.search(f.filename) is not None
        )
    return out


def _compile(pattern: str | re.Pattern[str]) -> re.Pattern[str]:
    if isinstance(pattern, re.Pattern):
        return pattern
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ProfileError(f"bad regular expression {pattern!r}: {exc}") from None


def _location_any(p: Profile, fn_flag: BoolArray) -> BoolArray:
    out = np.zeros(len(p.locations) + 1, bool)
    for loc in p.locations:
        out[loc.id] = any(fn_flag[ln.function_id] for ln in loc.lines)
    return out


def _location_matches(p: Profile, pattern: str | re.Pattern[str]) -> BoolArray:
    """pprof's Location.matchesName: a line's function name or file, or the mapping's file."""
    rx = _compile(pattern)
    out = _location_any(p, _function_match(p, rx, files=True))
    mhit = [False] + [bool(m.filename) and rx.search(m.filename) is not None for m in p.mappings]
    for loc in p.locations:
        if loc.mapping_id and mhit[loc.mapping_id]:
            out[loc.id] = True
    return out


def focus(p: Profile, pattern: str | re.Pattern[str]) -> Profile:
    """Keep samples with a frame whose function, file or binary matches ``pattern`` (as pprof)."""
    hit = _location_matches(p, pattern)
    return select_samples(p, _any_per_sample(p, hit))


def ignore(p: Profile, pattern: str | re.Pattern[str]) -> Profile:
    """Drop samples with a frame whose function, file or binary matches ``pattern`` (as pprof)."""
    hit = _location_matches(p, pattern)
    return select_samples(p, ~_any_per_sample(p, hit))


def _filter_lines(p: Profile, keep_fn: BoolArray) -> Profile:
    new_locs: list[Location] = []
    empty = np.zeros(len(p.locations) + 1, bool)
    for loc in p.locations:
        lines = tuple(ln for ln in loc.lines if keep_fn[ln.function_id])
        if not lines:
            empty[loc.id] = True
        new_locs.append(Location(loc.id, loc.mapping_id, loc.address, lines, loc.is_folded))
    q = _replace(p, locations=tuple(new_locs))
    return _with_stacks(q, ~empty[q.stack_locations])


def hide(p: Profile, pattern: str | re.Pattern[str]) -> Profile:
    """Remove frames whose function name matches ``pattern`` (the samples stay)."""
    return _filter_lines(p, ~_function_match(p, pattern))


def show(p: Profile, pattern: str | re.Pattern[str]) -> Profile:
    """Keep only frames whose function name matches ``pattern`` (the samples stay)."""
    return _filter_lines(p, _function_match(p, pattern))


def _simplify_func(name: str) -> str:
    """pprof's simplifyFunc: strip a leading '.' and an argument list (from the first '(')."""
    name = name.removeprefix(".")
    pos = 0
    while True:
        i = name.find("(", pos)
        if i < 0:
            return name
        if name.startswith("(anonymous namespace)", i):
            pos = i + len("(anonymous namespace)")
            continue
        if name.startswith("operator()", i - len("operator")):
            pos = i + 2
            continue
        return name[:i]


def prune(p: Profile, drop: str | None = None, keep: str | None = None) -> Profile:
    """pprof's drop_frames: cut every stack below (callee side of) a frame matching ``drop``.

    Defaults to the profile's own ``drop_frames``/``keep_frames``; frames before the first
    frame that is not dropped (from the root) are never pruned, so nothing vanishes entirely.
    """
    drop = p.drop_frames if drop is None else drop
    keep = p.keep_frames if keep is None else keep
    if not drop:
        return p
    drx = _compile(f"^(?:{drop})$")
    krx = _compile(f"^(?:{keep})$") if keep else None
    cache: dict[str, bool] = {}

    def prunes(name: str) -> bool:
        r = cache.get(name)
        if r is None:
            s = _simplify_func(name)
            r = drx.match(s) is not None and not (krx is not None and krx.match(s) is not None)
            cache[name] = r
        return r

    whole = np.zeros(len(p.locations) + 1, bool)  # the outermost line matches: drop location
    beneath = np.zeros(len(p.locations) + 1, bool)
    new_locs: list[Location] = []
    for loc in p.locations:
        lines = loc.lines
        hit = -1
        for i in range(len(lines) - 1, -1, -1):
            fn = p.functions[lines[i].function_id - 1] if lines[i].function_id else None
            if fn is not None and fn.name and prunes(fn.name):
                hit = i
                break
        if hit >= 0:
            beneath[loc.id] = True
            if hit == len(lines) - 1:
                whole[loc.id] = True
            else:
                lines = lines[hit + 1 :]
        new_locs.append(Location(loc.id, loc.mapping_id, loc.address, lines, loc.is_folded))
    if not beneath.any():
        return p
    # per sample, scanning from the root: cut at the first pruning location after a user frame
    offs = p.stack_offsets.tolist()
    sl = p.stack_locations
    flag_whole = whole[sl]
    flag_any = beneath[sl]
    keep_entry = np.ones(len(sl), bool)
    cand = np.flatnonzero(_any_per_sample(p, beneath))
    for i in cand.tolist():
        a, b = offs[i], offs[i + 1]
        found_user = False
        for j in range(b - 1, a - 1, -1):
            if not flag_any[j]:
                found_user = True
                continue
            if not found_user:
                continue
            cut = j + 1 if flag_whole[j] else j
            keep_entry[a:cut] = False
            break
    q = _replace(p, locations=tuple(new_locs))
    return _with_stacks(q, keep_entry)


# ---------------------------------------------------------------------------------------------
# aggregation


@dataclass(frozen=True, eq=False)
class FunctionTotals:
    """Flat and cumulative value per function name, for one sample type.

    ``total`` is the sum of absolute sample values (pprof's report total).
    """

    names: tuple[str, ...]
    flat: Int64Array
    cum: Int64Array
    total: int
    present: NDArray[np.bool_]  # the function is on the stack of a sample with a nonzero value


def node_names(p: Profile) -> tuple[tuple[str, ...], Int64Array, Int64Array, Int64Array]:
    """Names of pprof nodes at function granularity and each location's node ids.

    Returns (names, loc_offsets, loc_nodes, fn_node): location ``l``'s nodes, innermost
    inlined frame first, are ``loc_nodes[loc_offsets[l]:loc_offsets[l+1]]``. A location
    without symbol information becomes one node named after its mapping's file.
    """
    names: dict[str, int] = {}
    fn_node = np.zeros(len(p.functions) + 1, np.int64)
    for f in p.functions:
        fn_node[f.id] = names.setdefault(f.name, len(names))
    loc_offsets = np.zeros(len(p.locations) + 2, np.int64)
    nodes: list[int] = []
    for loc in p.locations:
        if loc.lines and all(ln.function_id for ln in loc.lines):
            nodes.extend(int(fn_node[ln.function_id]) for ln in loc.lines)
        else:
            m = p.mappings[loc.mapping_id - 1].filename if loc.mapping_id else ""
            label = f"<unknown {m.rsplit('/', 1)[-1]}>" if m else "<unknown>"
            nodes.append(names.setdefault(label, len(names)))
        loc_offsets[loc.id + 1] = len(nodes)
    loc_offsets[len(p.locations) + 1] = len(nodes)
    return (tuple(names), loc_offsets, np.array(nodes, np.int64), fn_node)


def _weighted_bincount(idx: Int64Array, weights: Int64Array, n: int,
                       bound: int | None = None) -> Int64Array:
    """Exact integer bincount (float64 weights are exact below 2^53, else np.add.at).

    ``bound``: a known bound on the sum of |weights| of any bin (spares a pass to find one).
    """
    if bound is None:
        bound = int(np.abs(weights).sum())
    if len(weights) == 0 or bound < (1 << 53):
        return np.rint(np.bincount(idx, weights=weights, minlength=n)).astype(np.int64)
    out = np.zeros(n, np.int64)
    np.add.at(out, idx, weights)
    return out


# Entries (frames) handled per step of aggregate_functions: bounds temporary memory.
_AGG_CHUNK = 1 << 21
# Frames hashed per step of _stack_hashes (~48 bytes of temporaries each): 2M frames a step
# made a 100k-sample diff peak at 225 MB RSS; 64k frames keep them in cache: 2x faster than
# 512k (0.04 s instead of 0.08 s for a 100k-sample deep diff) and 17 MB less at the peak.
_HASH_CHUNK = 1 << 16
# Cells (samples x functions) of the stamp array that finds each function once per sample:
# small enough to stay in cache (1 MB of int32), but at least 64 samples per step.
_STAMP_CELLS = 1 << 18


def aggregate_functions(p: Profile, index: int) -> FunctionTotals:
    """Flat and cumulative totals per function (pprof's granularity=functions).

    Flat goes to the innermost frame of each sample; cum counts every function on the stack
    once per sample, even when it recurses or is inlined at several depths. Samples are
    processed a chunk at a time. Within a chunk, "once per sample" is a stamp: every frame
    writes its own global index into the cell (sample, function) of a dense array, and the
    frames that read their own index back are the one representative of their cell. That
    touches only the frames, never the whole samples x functions grid, and a small grid stays
    in cache: on a 1M-sample deep profile (46M frames, 490 functions) a bool bitmap of 8M
    cells plus np.flatnonzero over it took 1.2 s, this 0.5 s. Stale stamps from earlier steps
    are smaller than every index of the current step, so the array is never cleared.
    """
    n = p.n_samples
    v = p.values[:, index] if n else np.zeros(0, np.int64)
    total = int(np.abs(v).sum())
    names, loc_off, loc_nodes, _ = node_names(p)
    nn = max(len(names), 1)
    nlines = np.diff(loc_off)  # index by location id
    single = bool(np.all(nlines[1:] == 1))
    first_node = loc_nodes[np.minimum(loc_off[:-1], max(len(loc_nodes) - 1, 0))] if len(
        loc_nodes) else np.zeros(len(loc_off) - 1, np.int64)
    offs = p.stack_offsets
    sl = p.stack_locations
    lens = np.diff(offs)
    has = lens > 0
    leaf = first_node[sl[offs[:-1][has]]]
    flat = _weighted_bincount(leaf, v[has], nn)
    cum = np.zeros(nn, np.int64)
    present = np.zeros(nn, bool)
    nonneg = not n or int(v.min()) >= 0
    # int32 keys and stamps when they fit: half the memory traffic
    bound = int(offs[-1]) * max(int(nlines.max(initial=1)), 1)  # frames + inlined lines
    it: type = np.int32 if bound < (1 << 31) - 1 else np.int64
    first_node_k = first_node.astype(np.int32)
    cells = max(_STAMP_CELLS, 64 * nn)
    stamp: NDArray[Any] = np.full(min(cells, n * nn) if n else 1, -1, it)
    done = 0  # frames (and extra inlined lines) stamped so far
    s = 0
    while s < n:
        # samples [s, e) holding at most _AGG_CHUNK frames and `cells` cells (at least one)
        e = int(np.searchsorted(offs, offs[s] + _AGG_CHUNK, side="right")) - 1
        e = min(max(e, s + 1), n, max(s + cells // nn, s + 1))
        chunk = sl[offs[s] : offs[e]]
        owner = np.repeat(np.arange(e - s, dtype=np.intp), lens[s:e])
        node = first_node_k[chunk]
        if not single:  # inlined frames beyond the first line: extra (sample, node) pairs
            per = nlines[chunk]
            multi = np.flatnonzero(per > 1)
            if len(multi):
                ml = chunk[multi]
                extra = loc_nodes[ranges_to_index(loc_off[ml] + 1, loc_off[ml + 1])]
                owner = np.concatenate([owner, np.repeat(owner[multi], per[multi] - 1)])
                node = np.concatenate([node, extra.astype(np.int32)])
        key = owner * nn  # intp keys: int32 ones are converted on every fancy index
        key += node
        gidx: NDArray[Any] = np.arange(done, done + len(key), dtype=it)
        done += len(key)
        stamp[key] = gidx
        win = stamp[key] == gidx
        cols = node[win]
        w = v[s:e][owner[win]]
        cum += _weighted_bincount(cols, w, nn, total)  # a bin takes a sample at most once
        if not nonneg:
            present[cols[w != 0]] = True
        s = e
    if nonneg:  # no value below zero: on a nonzero-value stack exactly when cum > 0 (this
        present = cum != 0  # spares a scatter per step: 20% of the time at 100k samples)
    present.flags.writeable = False
    return FunctionTotals(names, frozen_array(flat), frozen_array(cum), total, present)


def inline_marks(p: Profile, index: int, shown: Sequence[str]) -> dict[str, int]:
    """pprof's "(inline)" marks for the functions ``shown`` (the rows of a report).

    pprof marks a node by its incoming edges, which exist only between shown nodes: walking
    a sample from the root, each shown frame is called by the previous shown frame (unless
    that is itself); the call is inline when the frame is not the last line of its location.
    Returns 1 (only inline calls), 2 (only normal calls) or 3 (both) per function name.
    """
    names, loc_off, loc_nodes, _ = node_names(p)
    pos = {nm: i for i, nm in enumerate(names)}
    kept = np.zeros(max(len(names), 1), bool)
    kept[[pos[nm] for nm in shown if nm in pos]] = True
    nlines = np.diff(loc_off)
    cand_loc = np.zeros(len(p.locations) + 1, bool)  # locations with a shown inlined frame
    for loc in p.locations:
        a, b = int(loc_off[loc.id]), int(loc_off[loc.id + 1])
        cand_loc[loc.id] = b - a > 1 and bool(kept[loc_nodes[a : b - 1]].any())
    out: dict[str, int] = {}
    if not cand_loc.any():
        return out
    v = p.values[:, index]
    sel = _any_per_sample(p, cand_loc) & (v != 0)
    q = select_samples(p, sel)
    sl = q.stack_locations
    per = nlines[sl]
    nodes = loc_nodes[ranges_to_index(loc_off[sl], loc_off[sl] + per)]
    owner = np.repeat(np.repeat(np.arange(q.n_samples), np.diff(q.stack_offsets)), per)
    # a frame is inlined when it is not the last line of its location
    last = np.zeros(len(nodes), bool)
    last[np.cumsum(per) - 1] = True
    k = kept[nodes]
    nodes, owner, last = nodes[k], owner[k], last[k]
    # leaf first: entry j is called by entry j + 1 of the same sample
    pair = (owner[:-1] == owner[1:]) & (nodes[:-1] != nodes[1:])
    callee = nodes[:-1][pair]
    kind = np.where(last[:-1][pair], 2, 1)
    marks = np.zeros(len(kept), np.int8)
    np.bitwise_or.at(marks, callee, kind.astype(np.int8))
    for nm in shown:
        if nm in pos and marks[pos[nm]]:
            out[nm] = int(marks[pos[nm]])
    return out


def _with_marks(rows: tuple[TopRow, ...], marks: dict[str, int]) -> tuple[TopRow, ...]:
    return tuple(TopRow(r.name, r.flat, r.cum, _INLINE_MARK[marks.get(r.name, 0)])
                 for r in rows)


@dataclass(frozen=True, eq=False)
class StackTotals:
    """Summed values per distinct location stack: ``stacks[i]`` (leaf first) has ``values[i]``."""

    stacks: tuple[tuple[int, ...], ...]
    values: Int64Array  # shape (n_stacks, n_sample_types)


def aggregate_stacks(p: Profile) -> StackTotals:
    """Sum sample values over identical stacks (labels ignored), in first-seen order."""
    bare = _replace(p, str_labels=Labels(), num_labels=Labels())
    if p.n_samples == 0:
        return StackTotals((), frozen_array(np.zeros((0, len(p.sample_types)), np.int64)))
    first, summed = _sum_equal(sample_keys(bare), p.values)
    stacks = tuple(tuple(p.stack(int(i)).tolist()) for i in first)
    return StackTotals(stacks, frozen_array(summed))


# ---------------------------------------------------------------------------------------------
# the `top` report


@dataclass(frozen=True)
class TopRow:
    name: str
    flat: int
    cum: int
    inline: str = ""  # "inline" / "partial-inline" as pprof marks the function, else ""


@dataclass(frozen=True)
class TopResult:
    """What ``top``/``diff`` show, trimmed exactly as ``go tool pprof -top`` trims.

    ``total`` is pprof's report total (sum of absolute sample values before focus/ignore);
    ``shown`` the sum of the flat values of ``rows``; ``dropped_nodes`` those under the node
    fraction (cum <= ``dropped_cutoff``); ``node_count`` the nodes left before ``nodecount``.
    """

    sample_type: str
    unit: str
    rows: tuple[TopRow, ...]
    total: int
    shown: int
    node_count: int
    dropped_nodes: int
    dropped_cutoff: int
    cum_sort: bool
    time_nanos: int = 0
    duration_nanos: int = 0
    filters: tuple[str, ...] = ()


def _index_of(p: Profile, sample_index: str | None) -> int:
    if not p.sample_types:
        raise ProfileError("profile has no sample types")
    try:
        return p.sample_type_index(sample_index)
    except KeyError as exc:
        raise ProfileError(str(exc.args[0])) from None


def _filtered(p: Profile, focus_re: str | None, ignore_re: str | None,
              filters: list[str]) -> Profile:
    if focus_re:
        p = focus(p, focus_re)
        filters.append(f"focus={focus_re}")
    if ignore_re:
        p = ignore(p, ignore_re)
        filters.append(f"ignore={ignore_re}")
    return p


_INLINE_MARK = ("", "inline", "", "partial-inline")


def _trim(
    names: tuple[str, ...], flat: Int64Array, cum: Int64Array, total: int, *, sample_type: str,
    unit: str, cum_sort: bool, nodecount: int | None, node_fraction: float, time_nanos: int,
    duration_nanos: int, filters: list[str],
) -> TopResult:
    """pprof's newTrimmedGraph + sort for text output, on per-function totals."""
    # pprof's graph keeps nodes with a nonzero flat or cum (selectNodesForGraph)
    present = np.flatnonzero((cum != 0) | (flat != 0))
    graph_total = int(flat[present].sum())
    cutoff = abs(int(graph_total * node_fraction))
    kept = present[np.abs(cum[present]) >= cutoff] if cutoff > 0 else present
    dropped = len(present) - len(kept)
    fl, cu = flat.tolist(), cum.tolist()
    if cum_sort:
        ordered = sorted(kept.tolist(), key=lambda i: (-abs(cu[i]), names[i], -abs(fl[i])))
    else:
        ordered = sorted(kept.tolist(), key=lambda i: (-abs(fl[i]), names[i], -abs(cu[i])))
    node_count = len(ordered)
    if nodecount is not None and nodecount > 0:
        ordered = ordered[:nodecount]
    rows = tuple(TopRow(names[i], fl[i], cu[i]) for i in ordered)
    return TopResult(
        sample_type=sample_type, unit=unit, rows=rows, total=total,
        shown=sum(r.flat for r in rows), node_count=node_count, dropped_nodes=dropped,
        dropped_cutoff=abs(int(total * node_fraction)), cum_sort=cum_sort,
        time_nanos=time_nanos, duration_nanos=duration_nanos, filters=tuple(filters),
    )


def top(
    p: Profile,
    sample_index: str | None = None,
    *,
    cum_sort: bool = False,
    nodecount: int | None = None,
    focus_re: str | None = None,
    ignore_re: str | None = None,
    node_fraction: float = 0.005,
) -> TopResult:
    """pprof's ``-top`` on ``p``: per-function flat/cum, sorted, trimmed, with the header data.

    As in pprof, percentages are of the total before focus/ignore.
    """
    index = _index_of(p, sample_index)
    st = p.sample_types[index]
    p = prune(p)
    total = int(np.abs(p.values[:, index]).sum()) if p.n_samples else 0
    filters: list[str] = []
    q = _filtered(p, focus_re, ignore_re, filters)
    agg = aggregate_functions(q, index)
    res = _trim(agg.names, agg.flat, agg.cum, total, sample_type=st.type, unit=st.unit,
                cum_sort=cum_sort, nodecount=nodecount, node_fraction=node_fraction,
                time_nanos=p.time_nanos, duration_nanos=p.duration_nanos, filters=filters)
    marks = inline_marks(q, index, [r.name for r in res.rows])
    return dataclasses.replace(res, rows=_with_marks(res.rows, marks))


def _location_keys(p: Profile, table: dict[Any, int]) -> Int64Array:
    """Per location id, a global id for (mapping, address, lines) shared across profiles."""
    out = np.zeros(len(p.locations) + 1, np.int64)
    for loc in p.locations:
        m = p.mappings[loc.mapping_id - 1] if loc.mapping_id else None
        mk = (m.filename, m.build_id, m.limit - m.start, m.offset) if m else None
        lines = tuple(
            (p.functions[ln.function_id - 1].name if ln.function_id else "",
             p.functions[ln.function_id - 1].filename if ln.function_id else "", ln.line,
             ln.column) for ln in loc.lines)
        out[loc.id] = table.setdefault((mk, loc.address, lines, loc.is_folded), len(table) + 1)
    return out


def _stack_hashes(p: Profile, loc_key: Int64Array, strings: dict[str, int]) -> NDArray[np.uint64]:
    """A 64-bit hash per sample of (stack of global location ids, labels).

    Polynomial hash sum_j R[loc_j] * w^j, computed for all samples at once from prefix sums
    of R[loc_e] * w^e (e = global frame position) scaled back by w^-start (w is odd, so it
    has an inverse mod 2^64): four passes over the frames instead of one Python loop per
    sample. Equal samples hash equal; two different ones collide with probability ~2^-64.
    """
    n = p.n_samples
    w = 0x9E3779B97F4A7C15
    winv = pow(w, -1, 1 << 64)
    offs = p.stack_offsets
    out = np.zeros(n, np.uint64)
    # a random 64-bit value per location of this profile (by its global key)
    rand = _mix(loc_key, 7)
    powers: dict[int, tuple[NDArray[np.uint64], NDArray[np.uint64]]] = {}

    def pow_tables(m: int) -> tuple[NDArray[np.uint64], NDArray[np.uint64]]:
        """w^k and w^-k for k = 0..m, computed once per size (chunks are about equal)."""
        size = max(m + 1, min(_HASH_CHUNK, len(p.stack_locations)) + 1)
        if size not in powers:
            pw = np.full(size, w, np.uint64)
            pw[0] = 1
            np.cumprod(pw, out=pw)
            pinv = np.full(size, winv, np.uint64)
            pinv[0] = 1
            np.cumprod(pinv, out=pinv)
            powers[size] = (pw, pinv)
        return powers[size]

    s = 0
    with np.errstate(over="ignore"):
        while s < n:
            e = int(np.searchsorted(offs, offs[s] + _HASH_CHUNK, side="right")) - 1
            e = min(max(e, s + 1), n)
            a0 = int(offs[s])
            m = int(offs[e]) - a0
            pw, pinv = pow_tables(m)
            terms = rand[p.stack_locations[a0 : a0 + m]] * pw[:m]
            pref = np.zeros(m + 1, np.uint64)
            np.cumsum(terms, out=pref[1:])
            st, en = offs[s:e] - a0, offs[s + 1 : e + 1] - a0
            out[s:e] = (pref[en] - pref[st]) * pinv[st] + _mix(en - st, 8)
            s = e
        for lab, kind in ((p.str_labels, 1), (p.num_labels, 2)):
            if len(lab) == 0:
                continue
            sid = np.array([strings.setdefault(x, len(strings)) for x in p.strings], np.int64)
            val = sid[lab.value] if kind == 1 else lab.value
            h = _mix(sid[lab.key] * np.int64(4) + kind, 9) ^ _mix(val, 10)
            h ^= _mix(sid[lab.unit] if kind == 2 else np.zeros(len(lab), np.int64), 11)
            acc = np.zeros(n, np.uint64)
            _add_by_owner(acc, lab.sample, h)
            out += _mix(acc.view(np.int64), 12)
    return out


def diff_total(new: Profile, base: Profile, index: int) -> int:
    """pprof's report total for ``-base``: sum of |value| over the merged samples of
    ``new - base`` (identical stacks and labels cancel), without building the merge."""
    table: dict[Any, int] = {}
    strings: dict[str, int] = {}
    keys = np.concatenate([_stack_hashes(new, _location_keys(new, table), strings),
                           _stack_hashes(base, _location_keys(base, table), strings)])
    vals = np.concatenate([new.values[:, index], -base.values[:, index]])
    if len(vals) == 0:
        return 0
    order = np.argsort(keys)
    sk = keys[order]
    starts = np.flatnonzero(np.r_[True, sk[1:] != sk[:-1]])
    sums = np.add.reduceat(vals[order], starts)
    return int(np.abs(sums).sum())


def diff_top(
    base: Profile,
    new: Profile,
    sample_index: str | None = None,
    *,
    cum_sort: bool = False,
    nodecount: int | None = None,
    focus_re: str | None = None,
    ignore_re: str | None = None,
    node_fraction: float = 0.005,
) -> TopResult:
    """``top`` of ``new - base`` (pprof's ``-top -base BASE NEW``), signed.

    Flat and cum are linear in the samples, so the per-function totals of the merged
    profile are those of ``new`` minus those of ``base``; only pprof's total needs the
    sample-level merge (``diff_total``). Equal to ``top(subtract(new, base))``, faster.
    """
    _check_compatible(base, new)
    index = _index_of(new, sample_index)
    st = new.sample_types[index]
    new, base = prune(new), prune(base)
    total = diff_total(new, base, index)
    filters: list[str] = []
    a_new = aggregate_functions(_filtered(new, focus_re, ignore_re, filters), index)
    a_base = aggregate_functions(_filtered(base, focus_re, ignore_re, []), index)
    names = dict.fromkeys(a_new.names + a_base.names)
    pos = {nm: i for i, nm in enumerate(names)}
    flat = np.zeros(len(pos), np.int64)
    cum = np.zeros(len(pos), np.int64)
    for agg, sign in ((a_new, 1), (a_base, -1)):
        idx = np.array([pos[nm] for nm in agg.names], np.int64)
        if len(idx):
            np.add.at(flat, idx, sign * agg.flat)
            np.add.at(cum, idx, sign * agg.cum)
    tn = min((t for t in (new.time_nanos, base.time_nanos) if t), default=0)
    res = _trim(tuple(names), flat, cum, total, sample_type=st.type, unit=st.unit,
                cum_sort=cum_sort, nodecount=nodecount, node_fraction=node_fraction,
                time_nanos=tn, duration_nanos=new.duration_nanos + base.duration_nanos,
                filters=filters)
    # marks from the samples of either profile (pprof's come from the merged one)
    shown = [r.name for r in res.rows]
    marks = inline_marks(_filtered(new, focus_re, ignore_re, []), index, shown)
    for nm, m in inline_marks(_filtered(base, focus_re, ignore_re, []), index, shown).items():
        marks[nm] = marks.get(nm, 0) | m
    return dataclasses.replace(res, rows=_with_marks(res.rows, marks))


__all__: list[str] = [
    "FunctionTotals", "StackTotals", "TopResult", "TopRow", "aggregate_functions",
    "aggregate_stacks", "combine_identical", "diff_top", "diff_total", "focus", "hide",
    "ignore", "inline_marks", "merge",
    "node_names", "prune", "ranges_to_index", "scale", "select_samples", "show", "subtract",
    "top",
]
