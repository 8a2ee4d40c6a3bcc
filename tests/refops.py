"""Reference profile operations, pprof's semantics written plainly: merge, scale, subtract,
focus/ignore/hide/show and per-function/per-stack totals.

The product computes ``top``/``diff`` in one streaming pass (``profile.summary``); these
whole-profile operations are what that pass must agree with, so the tests keep them here as
the reference (``test_ops.py``, ``test_top_parity.py``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

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
from leaksleuth.profile.ops import (
    BoolArray,
    NodeTable,
    _function_match,
    _replace,
    _sample_of_entry,
    _stack_lengths,
    _with_stacks,
    add_by_owner,
    any_per_sample,
    check_compatible,
    fold_functions,
    location_matches,
    mix64,
    select_samples,
)


def scale(p: Profile, factor: float) -> Profile:
    """Multiply every sample value by ``factor`` (rounded to integers, as pprof does)."""
    if factor == 1:
        return p
    if float(factor).is_integer():
        values = p.values * np.int64(int(factor))
    else:
        values = np.rint(p.values.astype(np.float64) * factor).astype(np.int64)
    return _replace(p, values=values)


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
            h = mix64(p.stack_locations * np.int64(1 << 20) + pos, 10 + col)
            acc = np.zeros(n, np.uint64)
            add_by_owner(acc, owner, h)
            acc += mix64(_stack_lengths(p), 20 + col)
            for lab, kind in ((p.str_labels, 1), (p.num_labels, 2)):
                if len(lab) == 0:
                    continue
                key = lab.key if str_ids is None else str_ids[lab.key]
                val = lab.value if (str_ids is None or kind == 2) else str_ids[lab.value]
                unit = lab.unit if (str_ids is None or kind == 1) else str_ids[lab.unit]
                lh = mix64(key * np.int64(1 << 32) + kind, 30 + col) ^ mix64(val, 40 + col)
                lh ^= mix64(unit, 50 + col)
                add_by_owner(acc, lab.sample, lh)
            out[:, col] = acc
    return out


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
        check_compatible(first.sample_types, q.sample_types)
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


def focus(p: Profile, pattern: str | re.Pattern[str]) -> Profile:
    """Keep samples with a frame whose function, file or binary matches ``pattern`` (as pprof)."""
    hit = location_matches(p, pattern)
    return select_samples(p, any_per_sample(p, hit))


def ignore(p: Profile, pattern: str | re.Pattern[str]) -> Profile:
    """Drop samples with a frame whose function, file or binary matches ``pattern`` (as pprof)."""
    hit = location_matches(p, pattern)
    return select_samples(p, ~any_per_sample(p, hit))


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


def aggregate_functions(p: Profile, index: int) -> FunctionTotals:
    """Flat and cumulative totals per function (pprof's granularity=functions)."""
    v = p.values[:, index] if p.n_samples else np.zeros(0, np.int64)
    t = NodeTable.of(p)
    flat, cum, present = fold_functions(p, v, t)
    present.flags.writeable = False
    return FunctionTotals(t.names, frozen_array(flat), frozen_array(cum),
                          int(np.abs(v).sum()), present)


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
