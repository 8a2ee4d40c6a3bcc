"""`leaksleuth top`/`diff` against `go tool pprof -top` on real profiles from Go 1.23 and 1.26.

allocgen allocates in known functions (plain, inlined, recursive, freed, garbage) with
MemProfileRate=1 and parks goroutines; both tools read the same files and must list the same
top-20 functions in the same order with the same values (within pprof's display rounding).
"""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import refops
from leaksleuth.cli import main
from leaksleuth.profile import pprof, summary
from leaksleuth.profile.formats import read_profile
from pprofencode import write_pprof
from pprofhelp import assert_close, ours_json, parse_top, parse_value, run_pprof
from support.goservice import GO_VERSIONS, TESTS_DIR, build_or_skip, go_or_skip

pytestmark = [pytest.mark.go, pytest.mark.slow]

HEAP_INDICES = ("inuse_space", "inuse_objects", "alloc_space", "alloc_objects")


def _cases(d: Path) -> list[tuple[list[str], list[str]]]:
    """(pprof args, leaksleuth args) pairs to compare."""
    out: list[tuple[list[str], list[str]]] = []
    for cum in (False, True):
        c_pp = ["-cum"] if cum else []
        c_ls = ["--cum"] if cum else []
        for f in ("heap1", "heap2"):
            for si in HEAP_INDICES:
                path = str(d / f"{f}.pb.gz")
                out.append(([*c_pp, f"-sample_index={si}", path],
                            ["top", path, "--sample-index", si, *c_ls]))
        for f in ("allocs2", "goroutine2"):
            path = str(d / f"{f}.pb.gz")
            out.append(([*c_pp, path], ["top", path, *c_ls]))
        for si in ("inuse_space", "inuse_objects", "alloc_space"):
            base, new = str(d / "heap1.pb.gz"), str(d / "heap2.pb.gz")
            out.append(([*c_pp, f"-sample_index={si}", "-base", base, new],
                        ["diff", base, new, "--sample-index", si, *c_ls]))
        base, new = str(d / "goroutine1.pb.gz"), str(d / "goroutine2.pb.gz")
        out.append(([*c_pp, "-base", base, new], ["diff", base, new, *c_ls]))
    path = str(d / "heap2.pb.gz")
    out.append((["-nodecount=5", path], ["top", path, "--nodecount", "5"]))
    out.append((["-focus=leakSmall", path], ["top", path, "--focus", "leakSmall"]))
    out.append((["-ignore=leak", path], ["top", path, "--ignore", "leak"]))
    return out


@pytest.fixture(scope="session", params=GO_VERSIONS)
def generated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[Path, Path, dict[tuple[str, ...], str]]:
    """Profiles written by allocgen built with one Go version, and pprof's output for each case."""
    version = request.param
    go = go_or_skip(version)
    exe = build_or_skip(TESTS_DIR / "goprogs" / "allocgen", version)
    d = tmp_path_factory.mktemp(f"allocgen-{version}")
    out = subprocess.run([str(exe), "-out", str(d)], capture_output=True, text=True, timeout=120,
                         check=True)
    assert "DONE" in out.stdout
    cases = _cases(d)
    with ThreadPoolExecutor(4) as pool:
        texts = list(pool.map(lambda c: run_pprof(go, *c[0]), cases))
    return go, d, {tuple(c[1]): t for c, t in zip(cases, texts, strict=True)}


def test_every_case_matches_pprof(generated: tuple[Path, Path, dict[tuple[str, ...], str]],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    _go, d, pprof_out = generated
    assert len(pprof_out) == len(_cases(d))
    compared_rows = 0
    for args, text in pprof_out.items():
        theirs = parse_top(text)
        ours = ours_json(list(args), capsys)
        rows = ours["rows"]
        assert isinstance(rows, list)
        what = " ".join(args)
        # total and the "Showing nodes accounting for" sum
        assert_close(int(ours["total"]), theirs.total, f"{what}: total")  # type: ignore[call-overload]
        assert_close(int(ours["shown"]), theirs.shown, f"{what}: shown")  # type: ignore[call-overload]
        top_theirs = theirs.rows[:20]
        top_ours = rows[:20]
        assert [r["function"] for r in top_ours] == [r[0] for r in top_theirs], what
        for r, (name, flat, cum) in zip(top_ours, top_theirs, strict=True):
            assert_close(r["flat"], flat, f"{what}: flat of {name}")
            assert_close(r["cum"], cum, f"{what}: cum of {name}")
            compared_rows += 1
        assert len(rows) == len(theirs.rows), what
    assert compared_rows > 200


def test_known_functions_have_known_values(
    generated: tuple[Path, Path, dict[tuple[str, ...], str]],
) -> None:
    """Independent of pprof: allocgen's own bookkeeping shows in our numbers.

    The runtime may charge an odd allocation of its own to a user frame, hence +-2.
    """
    _go, d, _ = generated

    def near(got: int, want: int) -> bool:
        return abs(got - want) <= 2

    heap2 = read_profile(d / "heap2.pb.gz")
    res = summary.top(heap2, "inuse_objects")
    by_name = {r.name: r for r in res.rows}
    assert near(by_name["main.leakSmall"].flat, 500)  # 200 + 300 objects of 1000 B, all live
    assert near(by_name["main.leakGrowing"].flat, 400)
    assert near(by_name["main.inlinedAlloc"].flat, 30)  # an inlined function is its own row
    assert by_name["main.inlinedAlloc"].inline == "inline"
    assert near(by_name["main.recurse"].flat, 10)
    assert by_name["main.recurse"].cum == by_name["main.recurse"].flat  # recursion counted once
    base = read_profile(d / "heap1.pb.gz")
    delta = {r.name: r for r in summary.diff_top(base, heap2, "inuse_objects").rows}
    assert near(delta["main.leakSmall"].flat, 300)
    assert near(delta["main.leakLarge"].flat, -16)  # 15 freed buffers and the old slice array
    gor = {r.name: r for r in summary.top(read_profile(d / "goroutine2.pb.gz")).rows}
    assert gor["main.waiterA"].cum == 4
    assert gor["main.waiterB"].cum == 7


def test_plain_text_is_pprofs_layout(generated: tuple[Path, Path, dict[tuple[str, ...], str]],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Piped output: from "Showing nodes" on, character for character pprof's."""
    _go, d, pprof_out = generated
    for args in (("top", str(d / "heap2.pb.gz"), "--sample-index", "inuse_space"),
                 ("diff", str(d / "heap1.pb.gz"), str(d / "heap2.pb.gz"), "--sample-index",
                  "alloc_space", "--cum")):
        capsys.readouterr()
        assert main(list(args)) == 0
        ours = capsys.readouterr().out.splitlines()
        theirs = pprof_out[args].splitlines()
        start_o = next(i for i, ln in enumerate(ours) if ln.startswith("Showing nodes"))
        start_t = next(i for i, ln in enumerate(theirs) if ln.startswith("Showing nodes"))
        assert ours[start_o:] == theirs[start_t:]  # including the (inline) marks


def test_written_profile_reads_back_in_pprof(
    generated: tuple[Path, Path, dict[tuple[str, ...], str]], tmp_path: Path
) -> None:
    """write_pprof output (a plain profile and a diff) gives pprof the same totals and rows."""
    go, d, pprof_out = generated
    heap2 = read_profile(d / "heap2.pb.gz")
    diff = refops.subtract(heap2, read_profile(d / "heap1.pb.gz"))
    (tmp_path / "heap2.pb.gz").write_bytes(write_pprof(heap2))
    (tmp_path / "diff.pb.gz").write_bytes(write_pprof(diff))
    for si in ("inuse_space", "alloc_objects"):
        orig = parse_top(pprof_out[("top", str(d / "heap2.pb.gz"), "--sample-index", si)])
        back = parse_top(run_pprof(go, f"-sample_index={si}", str(tmp_path / "heap2.pb.gz")))
        assert back.total == orig.total and back.shown == orig.shown
        assert back.rows == orig.rows
    orig_d = parse_top(pprof_out[("diff", str(d / "heap1.pb.gz"), str(d / "heap2.pb.gz"),
                                  "--sample-index", "inuse_space")])
    back_d = parse_top(run_pprof(go, "-sample_index=inuse_space", str(tmp_path / "diff.pb.gz")))
    assert back_d.total == orig_d.total
    assert back_d.rows == orig_d.rows
    assert parse_value(back_d.total)[0] > 0


@pytest.mark.parametrize("batch_bytes", [None, 300], ids=["one-batch", "many-batches"])
def test_every_case_text_is_identical(generated: tuple[Path, Path, dict[tuple[str, ...], str]],
                                      capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch,
                                      batch_bytes: int | None) -> None:
    """All cases, piped: from "Showing nodes" on, the lines equal pprof's; also when the
    files are folded a few samples at a time (300 bytes: dozens of batches per file, so
    totals, cum, inline marks and diff keys are all summed across batches) and a diff's
    BASE is summarised in a forked child."""
    _go, d, pprof_out = generated
    if batch_bytes is not None:
        monkeypatch.setattr(pprof, "_BATCH_BYTES", batch_bytes)
        monkeypatch.setattr(summary, "_FORK_MIN_BYTES", 0)  # diffs: BASE in a forked child
        monkeypatch.setattr(summary, "_FORK_BUSY_BYTES", 0)
        n_batches = sum(1 for _ in pprof.iter_pprof_file(str(d / "heap2.pb.gz")))
        assert n_batches > 10
    for args, text in pprof_out.items():
        capsys.readouterr()
        assert main(list(args)) == 0
        ours = capsys.readouterr().out.splitlines()
        theirs = text.splitlines()
        start_o = next(i for i, ln in enumerate(ours) if ln.startswith("Showing nodes"))
        start_t = next(i for i, ln in enumerate(theirs) if ln.startswith("Showing nodes"))
        assert ours[start_o:] == theirs[start_t:], " ".join(args)
