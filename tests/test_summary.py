"""Summaries folded a batch at a time, split across processes, and the forked child itself.

The parity with `go tool pprof` (one batch and many) is in test_top_parity.py; these check
the pieces: parts of a file combine to the whole, the fork returns, raises and falls back,
and the gunzip buffers really are freed when released.
"""

from __future__ import annotations

import gzip
import mmap
import os
from pathlib import Path

import numpy as np
import pytest

from leaksleuth.errors import ProfileError
from leaksleuth.forked import Forked
from leaksleuth.profile import gunzip, pprof, summary
from leaksleuth.profile.model import Function, Labels, Line, Location, Profile, ValueType
from pprofencode import write_pprof


def _profile(n: int) -> Profile:
    """n samples over 6 functions, one inlined pair, stacks of 2-5 frames, a bytes label."""
    rng = np.random.default_rng(7)
    funcs = tuple(Function(i, f"main.f{i}") for i in range(1, 7))
    locs = [Location(i, 0, 0x1000 + i, (Line(i),)) for i in range(1, 6)]
    locs.append(Location(6, 0, 0x2000, (Line(6), Line(2))))  # f6 inlined into f2
    offsets, stacks, values = [0], [], []
    for _ in range(n):
        depth = int(rng.integers(2, 6))
        stacks += [int(x) for x in rng.integers(1, 7, depth)]
        offsets.append(len(stacks))
        v = int(rng.integers(0, 5000))
        values.append([v // 100, v])
    return Profile(
        sample_types=(ValueType("inuse_objects", "count"), ValueType("inuse_space", "bytes")),
        values=np.array(values, np.int64), stack_offsets=np.array(offsets, np.int64),
        stack_locations=np.array(stacks, np.int64), locations=tuple(locs), functions=funcs,
        strings=("", "bytes"),
        num_labels=Labels(np.arange(n), np.ones(n, np.int64),
                          np.array([v[1] % 7 for v in values], np.int64), np.zeros(n, np.int64)),
    )


@pytest.fixture()
def profile_file(tmp_path: Path) -> Path:
    path = tmp_path / "p.pb.gz"
    path.write_bytes(write_pprof(_profile(3000)))
    return path


def _same(a: summary.ProfileSummary, b: summary.ProfileSummary) -> None:
    pa = dict(zip(a.names, zip(a.flat.tolist(), a.cum.tolist(), strict=True), strict=True))
    pb = dict(zip(b.names, zip(b.flat.tolist(), b.cum.tolist(), strict=True), strict=True))
    assert {k: v for k, v in pa.items() if v != (0, 0)} == {
        k: v for k, v in pb.items() if v != (0, 0)}
    assert a.total == b.total
    assert np.array_equal(a.keys, b.keys) and np.array_equal(a.values, b.values)


def test_batches_parts_and_whole_agree(profile_file: Path, monkeypatch: pytest.MonkeyPatch
                                       ) -> None:
    whole = summary.summarize([pprof.read_pprof_file(str(profile_file))], keys=True)
    monkeypatch.setattr(pprof, "_BATCH_BYTES", 500)
    batches = list(pprof.iter_pprof_file(str(profile_file)))
    assert len(batches) > 20 and all(b.locations is batches[0].locations for b in batches)
    assert sum(b.n_samples for b in batches) == 3000
    _same(summary.summarize(batches, keys=True), whole)
    for split in (0.0, 0.3, 0.77, 1.0):
        parts = [summary.summarize_file(str(profile_file), keys=True, part=(0.0, split)),
                 summary.summarize_file(str(profile_file), keys=True, part=(split, 1.0))]
        _same(summary.combine(parts), whole)


def test_top_marks_and_totals_match_the_whole_profile(profile_file: Path) -> None:
    p = pprof.read_pprof_file(str(profile_file))
    res = summary.top(p)
    by = {r.name: r for r in res.rows}
    assert by["main.f6"].inline == "inline"  # only ever an inlined frame
    assert res.total == int(p.values[:, 1].sum())
    # the same numbers from the file, split in two parts
    parts = [summary.summarize_file(str(profile_file), part=(0.0, 0.4)),
             summary.summarize_file(str(profile_file), part=(0.4, 1.0))]
    again = summary.top_of(summary.combine(parts))
    assert again.rows == res.rows and again.total == res.total


def test_pair_in_a_child_equals_in_turn(profile_file: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / "b.pb.gz"
    base.write_bytes(write_pprof(_profile(1000)))
    gunzip.gunzip_ahead([str(profile_file), str(base)])
    monkeypatch.setattr(summary, "_FORK_MIN_BYTES", 0)  # fork even for these small files
    monkeypatch.setattr(summary, "_FORK_BUSY_BYTES", 0)
    forked = summary.summarize_pair(str(base), str(profile_file), parallel=True)
    in_turn = summary.summarize_pair(str(base), str(profile_file), parallel=False)
    for a, b in zip(forked, in_turn, strict=True):
        _same(a, b)
    assert summary.diff_of(*forked) == summary.diff_of(*in_turn)


def test_pair_raises_base_error_first(profile_file: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(summary, "_FORK_MIN_BYTES", 0)
    monkeypatch.setattr(summary, "_FORK_BUSY_BYTES", 0)
    bad = tmp_path / "bad.pb.gz"
    bad.write_bytes(gzip.compress(b"<html>502 Bad Gateway</html>"))
    with pytest.raises(ProfileError, match=r"bad\.pb\.gz"):
        summary.summarize_pair(str(bad), str(profile_file))
    with pytest.raises(ProfileError, match=r"bad\.pb\.gz"):
        summary.summarize_pair(str(bad), str(bad))
    with pytest.raises(ProfileError, match=r"bad\.pb\.gz"):
        summary.summarize_pair(str(profile_file), str(bad))


def test_share_of_new() -> None:
    mb = 1 << 20
    assert summary.share_of_new(100 * mb, 0) == 1.0
    assert summary.share_of_new(100 * mb, 100 * mb) == 1.0  # BASE alone is as much work
    f = summary.share_of_new(20 * mb, 100 * mb)
    assert 0.5 < f < 1.0
    assert summary.share_of_new(0, 100 * mb) == 0.5
    # the rest would be too small to be worth NEW's tables read again: no split
    assert summary.share_of_new(50 * mb, 100 * mb) == 1.0
    assert summary.share_of_new(4 * mb, 8 * mb) == 1.0
    assert summary.share_of_new(0, 8 * mb) == 1.0
    assert summary.share_of_new(0, 20 * mb) == 0.5


def _child_pid() -> int:
    return os.getpid()


def _boom() -> None:
    raise ProfileError("broken", "x.pb.gz")


def test_forked_returns_raises_and_falls_back() -> None:
    assert Forked(_child_pid).result() != os.getpid()  # it did run elsewhere
    with pytest.raises(ProfileError, match=r"x\.pb\.gz: broken"):
        Forked(_boom).result()
    parent = os.getpid()

    def die_in_child() -> int:
        if os.getpid() != parent:
            os._exit(9)  # no answer: result() runs it here instead
        return 42

    assert Forked(die_in_child).result() == 42
    job = Forked(__import__("time").sleep, 30)
    pid = job._pid
    assert pid > 0
    job.cancel()  # killed and reaped, not waited for
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def test_released_pages_are_freed(profile_file: Path) -> None:
    """The decompressed map is private: released pages read back as zeros (freed), where a
    shared anonymous map would keep them (and their memory) as shmem."""
    mm = gunzip.gunzip_owned(str(profile_file))
    assert mm is not None and mm[0] != 0
    mm.madvise(mmap.MADV_DONTNEED, 0, mmap.PAGESIZE)
    assert mm[0] == 0


def test_gunzip_ahead_hands_over_and_discards(profile_file: Path, tmp_path: Path) -> None:
    other = tmp_path / "o.pb.gz"
    other.write_bytes(profile_file.read_bytes())
    gunzip.gunzip_ahead([str(profile_file), str(other)])
    mm = gunzip.gunzip_owned(str(profile_file))
    assert mm is not None and bytes(mm[:2]) == gzip.decompress(profile_file.read_bytes())[:2]
    gunzip.discard(str(other))
    assert str(other) not in gunzip._ahead
    assert gunzip.gunzip_owned(str(tmp_path / "missing.pb.gz")) is None


def test_fork_pays_by_size_and_load(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    mb = 1 << 20
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    assert not summary._fork_pays(2 * mb)  # small: one process
    assert summary._fork_pays(11 * mb)  # a core free
    monkeypatch.setattr(os, "getloadavg", lambda: (6.0, 6.0, 6.0))
    assert not summary._fork_pays(11 * mb)  # busy: the processes would take turns
    assert summary._fork_pays(110 * mb)  # big: always
