"""Per-function summaries of profiles, folded a batch of samples at a time: `top` and `diff`.

Of a profile, ``top`` and ``diff`` need only per-function flat and cumulative totals, the
report total, for a diff a key (stack and labels) and a value per sample, and the samples that
can decide pprof's "(inline)" marks. A ``ProfileSummary`` holds just that, folded over batches
of samples that share one set of tables (``pprof.iter_pprof_file``): a large file's stacks are
never held whole, each batch is aggregated while its stacks are still in cache, and the BASE
and NEW summaries of a diff are built at the same time in two processes (``forked``): the
per-batch steps in Python hold the GIL, so two threads would mostly take turns.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from leaksleuth.errors import ProfileError
from leaksleuth.profile import _wire, ops
from leaksleuth.profile.model import Int64Array, Profile, ValueType
from leaksleuth.profile.ops import BoolArray, NodeTable, PrunePlan

U64 = NDArray[np.uint64]
_MASK = (1 << 64) - 1
_INLINE_MARK = ("", "inline", "", "partial-inline")
# A diff of files this big together (gzipped) runs in two processes; below it a second
# process costs more memory (its own interpreter and numpy) than it saves time.
_FORK_MIN_BYTES = 4 << 20
# Below this (gzipped, together) the child's work is short, and it pays only when a core is
# free: on a busy machine the two processes take turns (diff of the 100k-sample deep
# profiles of benchmarks/parse_bench.py, 11 MB, interleaved at load 5-7: 0.33-0.73 s, median
# 0.37, in one process against 0.38-0.90 s, median 0.56, with the child; on a quiet machine
# the child's 0.22-0.24 s against about 0.3 s).
_FORK_BUSY_BYTES = 32 << 20
# The least of NEW (gzipped bytes' worth) a child folds after BASE: below it, reading NEW's
# tables a second time in the child costs about what the part saves the parent (diff of the
# deep profiles of benchmarks/parse_bench.py, interleaved runs: at 100k samples, a 5% part,
# 0.39-0.67 s without it against 0.51-0.71 s; at 1M, 2.31-2.51 s against 2.18-3.19 s).
_TAIL_MIN_BYTES = 8 << 20


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


# ---------------------------------------------------------------------------------------------
# summaries


@dataclass(frozen=True, eq=False)
class InlineSamples:
    """The samples (nonzero value, after focus/ignore) holding a function that is somewhere an
    inlined frame, as node ids leaf first: only they can give a function an "(inline)" mark,
    and all of them are needed to tell "inline" from "partial-inline"."""

    nodes: Int64Array  # node ids (into the summary's names), every line of every frame
    last: BoolArray  # the line is the last (outermost) of its location: a normal call
    owner: Int64Array  # which kept sample each entry belongs to (nondecreasing)


@dataclass(frozen=True, eq=False)
class ProfileSummary:
    """What ``top`` and ``diff`` need of one profile (pruned by its drop_frames) for one
    sample type: per-function totals after focus/ignore, and per-sample keys before them."""

    sample_types: tuple[ValueType, ...]
    index: int  # the sample type summarised
    names: tuple[str, ...]
    flat: Int64Array
    cum: Int64Array
    total: int  # sum of |value| over every sample (pprof's total for `top`)
    keys: U64  # sorted distinct hashes of stack and labels of the samples (only when asked),
    values: Int64Array  # equal across profiles, and the summed values of each
    inline: InlineSamples
    time_nanos: int
    duration_nanos: int
    filters: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class _Plan:
    """Everything derived once from the tables that every batch shares."""

    prune: PrunePlan | None
    nodes: NodeTable
    inline_loc: BoolArray  # by location id: holds a node that is an inlined frame somewhere
    focus_hit: BoolArray | None
    ignore_hit: BoolArray | None
    loc_hash: U64 | None  # by location id (for keys)
    str_hash: U64 | None  # by string index (for keys of labelled samples)


def _digests(texts: Sequence[str]) -> list[int]:
    """A 64-bit digest of each text, the same in every process (``hash`` is salted): a sum
    of mixed (byte, position) pairs per text, all texts at once with numpy. (hashlib would
    load OpenSSL into each process of a diff.)"""
    if not texts:
        return []
    raw = [t.encode("utf-8", "surrogatepass") for t in texts]
    lens = np.array([len(b) for b in raw], np.int64)
    data = np.frombuffer(b"".join(raw), np.uint8).astype(np.int64)
    starts = np.zeros(len(raw), np.int64)
    np.cumsum(lens[:-1], out=starts[1:])
    pos = np.arange(len(data), dtype=np.int64) - np.repeat(starts, lens)
    out = ops.mix64(lens, 16)
    with np.errstate(over="ignore"):
        mixed = ops.mix64(data | (pos << np.int64(8)), 17)
        nonempty = np.flatnonzero(lens)
        if len(nonempty):
            out[nonempty] += np.add.reduceat(mixed, starts[nonempty])
    return [int(x) for x in ops.mix64(out.view(np.int64), 18)]


def location_hashes(p: Profile) -> U64:
    """A 64-bit value per location id from what it is (binary, address, lines with function
    name and file, folded): equal for the same code location in two profiles of a program, in
    any process. A few digests per function and mapping, the rest mixed with numpy (a digest
    per location would be a Python call each)."""
    fn_h = [0, *_digests([f"{f.name}\0{f.filename}" for f in p.functions])]
    map_h = [0, *_digests([f"{m.filename}\0{m.build_id}\0{m.limit - m.start}\0{m.offset}"
                           for m in p.mappings])]
    words: list[int] = []
    starts = [0] * (len(p.locations) + 1)
    for loc in p.locations:
        starts[loc.id] = len(words)
        words += (map_h[loc.mapping_id], loc.address & _MASK, int(loc.is_folded), len(loc.lines))
        for ln in loc.lines:
            words += (fn_h[ln.function_id], ln.line & _MASK, ln.column & _MASK)
    out = np.zeros(len(p.locations) + 1, np.uint64)
    if not words:
        return out
    w = np.array(words, np.uint64)
    st = np.array(starts[1:], np.int64)
    pos = np.arange(len(w), dtype=np.int64) - np.repeat(st, np.diff(np.r_[st, len(w)]))
    with np.errstate(over="ignore"):
        mixed = ops.mix64(w.view(np.int64), 13) ^ ops.mix64(pos, 14)
        out[1:] = ops.mix64(np.add.reduceat(mixed, st).view(np.int64), 15)
    return out


def _string_hashes(strings: Sequence[str]) -> U64:
    return np.array(_digests(strings), np.uint64)


def stack_hashes(p: Profile, loc_hash: U64, str_hash: U64 | None) -> U64:
    """A 64-bit hash per sample of (stack of locations by ``loc_hash``, labels).

    Polynomial hash sum_j R[loc_j] * w^j (mod 2^64, w = 0x9E3779B97F4A7C15) plus a hash of
    the stack's length, one pass over the frames in C (``_wire.poly_hash``): on the 1M-sample
    deep profile of benchmarks/parse_bench.py 0.06 s of CPU against 0.2 s for the numpy
    version (prefix sums of R[loc_e] * w^e scaled back by w^-start), with the same values.
    Equal samples hash equal; two different ones collide with probability ~2^-64.
    """
    n = p.n_samples
    offs = np.ascontiguousarray(p.stack_offsets, np.int64)
    out = np.zeros(n, np.uint64)
    rand = ops.mix64(loc_hash.view(np.int64), 7)
    if _wire.poly_hash(offs, np.ascontiguousarray(p.stack_locations, np.int64), rand, out):
        raise ProfileError("profile has stack entries naming no location")
    with np.errstate(over="ignore"):
        out += ops.mix64(np.diff(offs), 8)
        for lab, kind in ((p.str_labels, 1), (p.num_labels, 2)):
            if len(lab) == 0:
                continue
            if str_hash is None:
                str_hash = _string_hashes(p.strings)
            sid = str_hash.view(np.int64)
            val = sid[lab.value] if kind == 1 else lab.value
            h = ops.mix64(sid[lab.key] * np.int64(4) + kind, 9) ^ ops.mix64(val, 10)
            h ^= ops.mix64(sid[lab.unit] if kind == 2 else np.zeros(len(lab), np.int64), 11)
            acc = np.zeros(n, np.uint64)
            ops.add_by_owner(acc, lab.sample, h)
            out += ops.mix64(acc.view(np.int64), 12)
    return out


def _plan(first: Profile, focus_re: str | None, ignore_re: str | None, keys: bool) -> _Plan:
    prune = ops.prune_plan(first)
    tables = first if prune is None else dataclasses.replace(first, locations=prune.locations)
    nodes = NodeTable.of(tables)
    # nodes that are an inlined (not the last) line of some location
    inlined = np.zeros(max(len(nodes.names), 1), bool)
    multi = np.flatnonzero(nodes.nlines > 1)
    if len(multi):
        inlined[nodes.loc_nodes[ops.ranges_to_index(nodes.loc_off[multi],
                                                    nodes.loc_off[multi + 1] - 1)]] = True
    node_loc = np.repeat(np.arange(len(nodes.nlines)), nodes.nlines)
    inline_loc = np.zeros(len(nodes.nlines), bool)
    inline_loc[node_loc[inlined[nodes.loc_nodes]]] = True
    return _Plan(
        prune, nodes, inline_loc,
        ops.location_matches(tables, focus_re) if focus_re else None,
        ops.location_matches(tables, ignore_re) if ignore_re else None,
        location_hashes(tables) if keys else None,
        _string_hashes(tables.strings)
        if keys and (len(first.str_labels) or len(first.num_labels)) else None,
    )


def summarize(batches: Iterable[Profile], sample_index: str | None = None, *,
              focus_re: str | None = None, ignore_re: str | None = None,
              keys: bool = False) -> ProfileSummary:
    """Fold the batches of one profile (one batch: a whole profile) into its summary.

    ``sample_index`` names the sample type (pprof's rule when None: the default, else the
    last); ``keys``: also a key and value per sample, for ``diff``.
    """
    plan: _Plan | None = None
    first: Profile | None = None
    index = 0
    flat = cum = np.zeros(0, np.int64)
    total = 0
    key_parts: list[U64] = []
    value_parts: list[Int64Array] = []
    inl: list[tuple[Int64Array, BoolArray, Int64Array]] = []
    kept = 0  # inline samples so far
    for batch in batches:
        if first is None:
            first = batch
            index = _index_of(batch, sample_index)
            plan = _plan(batch, focus_re, ignore_re, keys)
            nn = max(len(plan.nodes.names), 1)
            flat, cum = np.zeros(nn, np.int64), np.zeros(nn, np.int64)
        assert plan is not None
        if plan.prune is not None:
            batch = ops.prune(batch, plan=plan.prune)
        v = batch.values[:, index]
        total += int(np.abs(v).sum())
        if keys:
            assert plan.loc_hash is not None
            key_parts.append(stack_hashes(batch, plan.loc_hash, plan.str_hash))
            value_parts.append(v)
        q = batch
        if plan.focus_hit is not None:
            q = ops.select_samples(q, ops.any_per_sample(q, plan.focus_hit))
        if plan.ignore_hit is not None:
            q = ops.select_samples(q, ~ops.any_per_sample(q, plan.ignore_hit))
        vq = q.values[:, index]
        f, c, _ = ops.fold_functions(q, vq, plan.nodes)
        flat += f
        cum += c
        sel = ops.any_per_sample(q, plan.inline_loc) & (vq != 0)
        if sel.any():
            inl.append(_inline_entries(ops.select_samples(q, sel), plan.nodes, kept))
            kept += int(sel.sum())
    if first is None or plan is None:
        raise ProfileError("no profile to summarise")
    filters = tuple(f"{k}={r}" for k, r in (("focus", focus_re), ("ignore", ignore_re)) if r)

    def cat(parts: Sequence[NDArray[Any]], dtype: type) -> NDArray[Any]:
        return np.concatenate(parts) if parts else np.zeros(0, dtype)

    skeys, svalues = _sum_by_key(cat(key_parts, np.uint64), cat(value_parts, np.int64))
    return ProfileSummary(
        sample_types=first.sample_types, index=index, names=plan.nodes.names, flat=flat,
        cum=cum, total=total, keys=skeys, values=svalues,
        inline=InlineSamples(cat([x[0] for x in inl], np.int64), cat([x[1] for x in inl], bool),
                             cat([x[2] for x in inl], np.int64)),
        time_nanos=first.time_nanos, duration_nanos=first.duration_nanos, filters=filters,
    )


def _sum_by_key(keys: U64, values: Int64Array, runs: bool = False
                ) -> tuple[U64, Int64Array]:
    """Sorted distinct keys and the sum of the values of each. Done in the process that
    built a summary: the merge in ``diff_total`` is then one pass over sorted runs.
    ``runs``: ``keys`` is a few sorted runs, which the stable sort (timsort) merges in one
    pass; otherwise quicksort (keys are hashes in sample order), any order of equal keys
    (their integer values just add up)."""
    if len(keys) == 0:
        return keys, values
    order = np.argsort(keys, kind="stable" if runs else None)
    sk = keys[order]
    starts = np.flatnonzero(np.r_[True, sk[1:] != sk[:-1]])
    return sk[starts], np.add.reduceat(values[order], starts)


def _inline_entries(q: Profile, t: NodeTable, first_owner: int
                    ) -> tuple[Int64Array, BoolArray, Int64Array]:
    """(nodes, last line of its location, owner) of every line of every frame of ``q``."""
    sl = q.stack_locations
    per = t.nlines[sl]
    nodes = t.loc_nodes[ops.ranges_to_index(t.loc_off[sl], t.loc_off[sl] + per)]
    owner = np.repeat(np.repeat(np.arange(q.n_samples) + first_owner, np.diff(q.stack_offsets)),
                      per)
    last = np.zeros(len(nodes), bool)
    last[np.cumsum(per) - 1] = True
    return nodes, last, owner


def summarize_file(path: str, sample_index: str | None = None, *,
                   focus_re: str | None = None, ignore_re: str | None = None,
                   keys: bool = False, part: tuple[float, float] | None = None
                   ) -> ProfileSummary:
    """``summarize`` of the profile file ``path``, streamed a batch at a time when it can be.

    ``part``: only that fraction of the samples (see ``pprof.iter_pprof_file``); a file that
    cannot be streamed then raises ``pprof.BatchesAbandoned``.
    """
    from leaksleuth.profile import pprof
    from leaksleuth.profile.formats import read_profile

    try:
        return summarize(pprof.iter_pprof_file(path, part=part), sample_index,
                         focus_re=focus_re, ignore_re=ignore_re, keys=keys)
    except pprof.BatchesAbandoned:  # the whole-file reader handles it, or names the problem
        if part is not None:
            raise
        return summarize([read_profile(path)], sample_index, focus_re=focus_re,
                         ignore_re=ignore_re, keys=keys)


def _add_totals(parts: Sequence[ProfileSummary], signs: Sequence[int]
                ) -> tuple[tuple[str, ...], Int64Array, Int64Array, list[Int64Array]]:
    """(names, flat, cum) over the union of the parts' function names, each part's totals
    added with its sign; and per part, where its names went."""
    names = tuple(dict.fromkeys(nm for s in parts for nm in s.names))
    pos = {nm: i for i, nm in enumerate(names)}
    flat = np.zeros(len(pos), np.int64)
    cum = np.zeros(len(pos), np.int64)
    remap = []
    for s, sign in zip(parts, signs, strict=True):
        idx = np.array([pos[nm] for nm in s.names], np.int64)
        np.add.at(flat, idx, sign * s.flat)
        np.add.at(cum, idx, sign * s.cum)
        remap.append(idx)
    return names, flat, cum, remap


def combine(parts: Sequence[ProfileSummary]) -> ProfileSummary:
    """One summary of a profile from summaries of disjoint parts of its samples (in order)."""
    names, flat, cum, remap = _add_totals(parts, [1] * len(parts))
    owners: list[Int64Array] = []
    seen = 0
    for s in parts:
        owners.append(s.inline.owner + seen)
        seen += int(s.inline.owner[-1]) + 1 if len(s.inline.owner) else 0
    inline = InlineSamples(
        np.concatenate([m[s.inline.nodes] for m, s in zip(remap, parts, strict=True)]),
        np.concatenate([s.inline.last for s in parts]), np.concatenate(owners))
    keys, values = _sum_by_key(np.concatenate([s.keys for s in parts]),
                               np.concatenate([s.values for s in parts]), runs=True)
    return dataclasses.replace(
        parts[0], names=names, flat=flat, cum=cum, total=sum(s.total for s in parts),
        keys=keys, values=values, inline=inline)


def _base_and_tail(base: str, new: str, split: float, sample_index: str | None,
                   focus_re: str | None, ignore_re: str | None
                   ) -> tuple[ProfileSummary, ProfileSummary | None]:
    """BASE's summary and, when ``split < 1``, that of NEW's samples after ``split`` (None
    if NEW cannot be streamed: the parent then summarises it whole)."""
    from leaksleuth.profile import gunzip
    from leaksleuth.profile.pprof import BatchesAbandoned

    tail: ProfileSummary | None = None
    if split < 1:  # first, while NEW's pages are still shared with the parent
        with contextlib.suppress(BatchesAbandoned):
            tail = summarize_file(new, sample_index, focus_re=focus_re, ignore_re=ignore_re,
                                  keys=True, part=(split, 1.0))
    gunzip.discard(new)
    return summarize_file(base, sample_index, focus_re=focus_re, ignore_re=ignore_re,
                          keys=True), tail


def share_of_new(base_bytes: int, new_bytes: int) -> float:
    """The fraction of NEW's samples the parent folds while a child decompresses and folds
    BASE and then the rest, so that both finish together: by file size, NEW's scan (~16% of
    its time after gunzip, done by both) counted twice, BASE's gunzip as half its decoding
    (NEW was decompressed ahead, before the fork). 1 (no split) when BASE alone is as much
    work as NEW's samples, or when the rest is under ``_TAIL_MIN_BYTES``: the child would
    spend about as long reading NEW's tables again as the rest saves the parent."""
    scan = 0.16
    base_work = base_bytes * 1.5
    if new_bytes <= 0 or base_work >= new_bytes * (1 - scan):
        return 1.0
    f = (1 + base_work / (new_bytes * (1 - scan))) / 2
    return 1.0 if (1 - f) * new_bytes < _TAIL_MIN_BYTES else f


def summarize_pair(base: str, new: str, sample_index: str | None = None, *,
                   focus_re: str | None = None, ignore_re: str | None = None,
                   parallel: bool = True) -> tuple[ProfileSummary, ProfileSummary]:
    """Summaries of the files BASE and NEW of a diff, in two processes when ``parallel``.

    A forked child summarises BASE and then the tail of NEW's samples while this process
    summarises the head of NEW (``share_of_new``); the two parts of NEW are combined.
    BASE's error, if any, is raised first (as when the two are read in turn). The sample
    type follows NEW (pprof's rule); if BASE's own default differs, BASE is summarised again.
    """
    import os

    from leaksleuth.forked import Forked
    from leaksleuth.profile import gunzip
    from leaksleuth.profile.pprof import BatchesAbandoned

    def one(path: str, name: str | None = sample_index,
            part: tuple[float, float] | None = None) -> ProfileSummary:
        return summarize_file(path, name, focus_re=focus_re, ignore_re=ignore_re, keys=True,
                              part=part)

    try:
        sizes = os.path.getsize(base), os.path.getsize(new)
    except OSError:
        sizes = (0, 0)
    # small files: a second process would cost more memory (its own interpreter) than time
    if not parallel or not _fork_pays(sum(sizes)):
        base_s, new_s = one(base), one(new)
    else:
        split = share_of_new(*sizes)
        gunzip.wait_ahead()  # a thread does not survive the fork: let it finish first
        job = Forked(_base_and_tail, base, new, split, sample_index, focus_re, ignore_re)
        if base != new:
            gunzip.discard(base)  # the child reads BASE
        head: ProfileSummary | None
        try:
            try:
                head = one(new, part=None if split >= 1 else (0.0, split))
            except BatchesAbandoned:
                head = None
        except Exception:
            job.result()  # BASE's error first
            raise
        except BaseException:  # Ctrl-C: stop the child too
            job.cancel()
            raise
        base_s, tail = job.result()
        if head is None or (split < 1 and tail is None):  # NEW cannot be streamed: whole
            new_s = one(new)
        else:
            new_s = head if tail is None else combine([head, tail])
    ops.check_compatible(base_s.sample_types, new_s.sample_types)
    if base_s.index != new_s.index:
        name = new_s.sample_types[new_s.index].type
        base_s = one(base, name)
    return base_s, new_s


def _fork_pays(total: int) -> bool:
    """Whether a diff of files this big (gzipped, together) is faster in two processes: above
    ``_FORK_BUSY_BYTES`` always, from ``_FORK_MIN_BYTES`` when the machine has a core free
    (its load average over the last minute below its cores less a half)."""
    if total < _FORK_MIN_BYTES:
        return False
    if total >= _FORK_BUSY_BYTES:
        return True
    import os

    try:
        load = os.getloadavg()[0]
    except OSError:
        return True
    return load < (os.cpu_count() or 1) - 0.5


def _index_of(p: Profile, sample_index: str | None) -> int:
    if not p.sample_types:
        raise ProfileError("profile has no sample types")
    try:
        return p.sample_type_index(sample_index)
    except KeyError as exc:
        raise ProfileError(str(exc.args[0])) from None


# ---------------------------------------------------------------------------------------------
# reports


def inline_marks(s: ProfileSummary, shown: Sequence[str]) -> dict[str, int]:
    """pprof's "(inline)" marks for the functions ``shown`` (the rows of a report).

    pprof marks a node by its incoming edges, which exist only between shown nodes: walking
    a sample from the root, each shown frame is called by the previous shown frame (unless
    that is itself); the call is inline when the frame is not the last line of its location.
    Returns 1 (only inline calls), 2 (only normal calls) or 3 (both) per function name.
    """
    pos = {nm: i for i, nm in enumerate(s.names)}
    kept = np.zeros(max(len(s.names), 1), bool)
    kept[[pos[nm] for nm in shown if nm in pos]] = True
    k = kept[s.inline.nodes]
    nodes, owner, last = s.inline.nodes[k], s.inline.owner[k], s.inline.last[k]
    # leaf first: entry j is called by entry j + 1 of the same sample
    pair = (owner[:-1] == owner[1:]) & (nodes[:-1] != nodes[1:])
    callee = nodes[:-1][pair]
    kind = np.where(last[:-1][pair], 2, 1)
    marks = np.zeros(len(kept), np.int8)
    np.bitwise_or.at(marks, callee, kind.astype(np.int8))
    return {nm: int(marks[pos[nm]]) for nm in shown if nm in pos and marks[pos[nm]]}


def _trim(
    names: tuple[str, ...], flat: Int64Array, cum: Int64Array, total: int, *, sample_type: str,
    unit: str, cum_sort: bool, nodecount: int | None, node_fraction: float, time_nanos: int,
    duration_nanos: int, filters: tuple[str, ...],
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
        time_nanos=time_nanos, duration_nanos=duration_nanos, filters=filters,
    )


def _with_marks(res: TopResult, marks: dict[str, int]) -> TopResult:
    return dataclasses.replace(res, rows=tuple(
        TopRow(r.name, r.flat, r.cum, _INLINE_MARK[marks.get(r.name, 0)]) for r in res.rows))


def top_of(s: ProfileSummary, *, cum_sort: bool = False, nodecount: int | None = None,
           node_fraction: float = 0.005) -> TopResult:
    """pprof's ``-top`` report of a summary. As in pprof, percentages are of the total
    before focus/ignore."""
    st = s.sample_types[s.index]
    res = _trim(s.names, s.flat, s.cum, s.total, sample_type=st.type, unit=st.unit,
                cum_sort=cum_sort, nodecount=nodecount, node_fraction=node_fraction,
                time_nanos=s.time_nanos, duration_nanos=s.duration_nanos, filters=s.filters)
    return _with_marks(res, inline_marks(s, [r.name for r in res.rows]))


def diff_total(new: ProfileSummary, base: ProfileSummary) -> int:
    """pprof's report total for ``-base``: sum of |value| over the merged samples of
    ``new - base`` (identical stacks and labels cancel), without building the merge."""
    _, vals = _sum_by_key(np.concatenate([new.keys, base.keys]),
                          np.concatenate([new.values, -base.values]), runs=True)
    return int(np.abs(vals).sum())


def diff_of(base: ProfileSummary, new: ProfileSummary, *, cum_sort: bool = False,
            nodecount: int | None = None, node_fraction: float = 0.005) -> TopResult:
    """``top`` of ``new - base`` (pprof's ``-top -base BASE NEW``), signed.

    Flat and cum are linear in the samples, so the per-function totals of the merged
    profile are those of ``new`` minus those of ``base``; only pprof's total needs the
    sample-level merge (``diff_total``). Equal to ``top`` of ``ops.subtract(new, base)``.
    """
    ops.check_compatible(base.sample_types, new.sample_types)
    st = new.sample_types[new.index]
    names, flat, cum, _ = _add_totals([new, base], [1, -1])
    tn = min((t for t in (new.time_nanos, base.time_nanos) if t), default=0)
    res = _trim(names, flat, cum, diff_total(new, base), sample_type=st.type,
                unit=st.unit, cum_sort=cum_sort, nodecount=nodecount,
                node_fraction=node_fraction, time_nanos=tn,
                duration_nanos=new.duration_nanos + base.duration_nanos, filters=new.filters)
    # marks from the samples of either profile (pprof's come from the merged one)
    shown = [r.name for r in res.rows]
    marks = inline_marks(new, shown)
    for nm, m in inline_marks(base, shown).items():
        marks[nm] = marks.get(nm, 0) | m
    return _with_marks(res, marks)


def top_file(path: str, sample_index: str | None = None, *, cum_sort: bool = False,
             nodecount: int | None = None, focus_re: str | None = None,
             ignore_re: str | None = None) -> TopResult:
    """`leaksleuth top`: pprof's ``-top`` of the profile file ``path``, streamed."""
    s = summarize_file(path, sample_index, focus_re=focus_re, ignore_re=ignore_re)
    return top_of(s, cum_sort=cum_sort, nodecount=nodecount)


def diff_files(base: str, new: str, sample_index: str | None = None, *, cum_sort: bool = False,
               nodecount: int | None = None, focus_re: str | None = None,
               ignore_re: str | None = None) -> TopResult:
    """`leaksleuth diff`: pprof's ``-top -base BASE NEW`` of two profile files, streamed
    (BASE in a forked child when that pays, see ``summarize_pair``)."""
    base_s, new_s = summarize_pair(base, new, sample_index, focus_re=focus_re,
                                   ignore_re=ignore_re)
    return diff_of(base_s, new_s, cum_sort=cum_sort, nodecount=nodecount)


def top(p: Profile, sample_index: str | None = None, *, cum_sort: bool = False,
        nodecount: int | None = None, focus_re: str | None = None,
        ignore_re: str | None = None, node_fraction: float = 0.005) -> TopResult:
    """pprof's ``-top`` on ``p``: per-function flat/cum, sorted, trimmed, with the header."""
    s = summarize([p], sample_index, focus_re=focus_re, ignore_re=ignore_re)
    return top_of(s, cum_sort=cum_sort, nodecount=nodecount, node_fraction=node_fraction)


def diff_top(base: Profile, new: Profile, sample_index: str | None = None, *,
             cum_sort: bool = False, nodecount: int | None = None,
             focus_re: str | None = None, ignore_re: str | None = None,
             node_fraction: float = 0.005) -> TopResult:
    """``top`` of ``new - base`` for two profiles in memory (see ``diff_of``)."""
    ops.check_compatible(base.sample_types, new.sample_types)
    new_s = summarize([new], sample_index, focus_re=focus_re, ignore_re=ignore_re, keys=True)
    name = new_s.sample_types[new_s.index].type
    base_s = summarize([base], name, focus_re=focus_re, ignore_re=ignore_re, keys=True)
    return diff_of(base_s, new_s, cum_sort=cum_sort, nodecount=nodecount,
                   node_fraction=node_fraction)
