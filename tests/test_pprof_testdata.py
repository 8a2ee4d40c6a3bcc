"""google/pprof's own legacy test profiles (tests/data/pprof_testdata) against `go tool pprof`.

Where pprof reads a heap or count profile in Go's text formats (Go's old runtimes wrote them;
tcmalloc's heapz/growthz text is the same format), `leaksleuth top` must give pprof's totals,
rows and per-sample values for every sample index. The other files there (legacy binary CPU
profiles, C++ threadz/contention text, Java formats) are not heap or goroutine profiles of
Go's: we refuse them with a one-line error that says how to convert them. Files pprof itself
rejects (damaged copies made here) get a one-line error from us too.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from leaksleuth.cli import main
from leaksleuth.profile.formats import read_profile
from leaksleuth.toolchain import go_tool_env
from pprofhelp import assert_close, ours_json, parse_top, run_pprof
from support.goservice import go_or_skip

pytestmark = [pytest.mark.go, pytest.mark.slow]

DATA = Path(__file__).resolve().parent / "data" / "pprof_testdata"
PROFILES = sorted(p.name for p in DATA.iterdir() if p.name not in ("LICENSE", "NOTICE"))
# Go heap/count text profiles (and tcmalloc's text of the same format): read, like pprof
READ = ("cppbench.growth", "cppbench.heap", "go.godoc.thread", "gobench.heap")
# pprof-only formats, not Go heap or goroutine profiles: a one-line refusal
REFUSED = tuple(p for p in PROFILES if p not in READ)
# tcmalloc files end with the process's memory map, which pprof uses to name unsymbolised
# addresses by library ("[libc-2.15.so]"); we skip that map (Go symbolises by executable), so
# for them only totals and per-sample values are compared, not the rows' names
MAPPED = ("cppbench.growth", "cppbench.heap")
# pprof's two-type view of a heap text without allocation figures -> our four types
OUR_INDEX = {"objects": "inuse_objects", "space": "inuse_space"}


@pytest.fixture(scope="module")
def go() -> Path:
    return go_or_skip("1.26.6")


def _pprof(go: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(go), "tool", "pprof", *args], env=go_tool_env(go),
                          capture_output=True, text=True, timeout=120, check=False)


def _raw(go: Path, path: Path) -> tuple[list[str], list[tuple[int, ...]]]:
    """pprof's -raw view: sample type names and every sample's values."""
    out = _pprof(go, "-raw", str(path))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    k = lines.index("Samples:")
    types = [t.split("/")[0] for t in lines[k + 1].split()]
    values: list[tuple[int, ...]] = []
    for ln in lines[k + 2:]:
        if ln.startswith("Locations"):
            break
        m = re.match(r"^\s*((?:-?\d+\s+)*-?\d+):", ln)
        if m:
            values.append(tuple(int(x) for x in m.group(1).split()))
    return types, values


def test_the_folder_is_all_there() -> None:
    assert len(PROFILES) == 14 and set(READ) <= set(PROFILES)
    assert (DATA / "LICENSE").read_text().lstrip().startswith("Apache License")


@pytest.mark.parametrize("name", READ)
def test_read_like_pprof(go: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = DATA / name
    types, raw = _raw(go, path)
    prof = read_profile(path)
    ours_types = [st.type for st in prof.sample_types]
    # per-sample values: the same multiset, column by column as pprof names them
    cols = [ours_types.index(OUR_INDEX.get(t, t)) for t in types]
    mine = Counter(tuple(int(prof.values[i, c]) for c in cols) for i in range(prof.n_samples))
    assert mine == Counter(raw), name
    compared = 0
    for t in types:
        theirs = parse_top(run_pprof(go, f"-sample_index={t}", str(path)))
        si = OUR_INDEX.get(t, t)
        ours = ours_json(["top", str(path), "--sample-index", si], capsys)
        what = f"{name} {t}"
        assert_close(int(ours["total"]), theirs.total, f"{what}: total")  # type: ignore[call-overload]
        assert_close(int(ours["shown"]), theirs.shown, f"{what}: shown")  # type: ignore[call-overload]
        rows = ours["rows"]
        assert isinstance(rows, list)
        if name in MAPPED:
            compared += 1
            continue
        assert len(rows) == len(theirs.rows), what
        for r, (fn, flat, cum) in zip(rows, theirs.rows, strict=True):
            assert r["function"] == fn, what
            assert_close(r["flat"], flat, f"{what}: flat of {fn}")
            assert_close(r["cum"], cum, f"{what}: cum of {fn}")
            compared += 1
        # piped text: from "Showing nodes" on, pprof's lines
        capsys.readouterr()
        assert main(["top", str(path), "--sample-index", si]) == 0
        text = capsys.readouterr().out.splitlines()
        pp = run_pprof(go, f"-sample_index={t}", str(path)).splitlines()
        s_o = next(i for i, ln in enumerate(text) if ln.startswith("Showing nodes"))
        s_t = next(i for i, ln in enumerate(pp) if ln.startswith("Showing nodes"))
        assert text[s_o:] == pp[s_t:], what
    assert compared >= len(types)


@pytest.mark.parametrize("name", REFUSED)
def test_other_formats_refused_in_one_line(go: Path, name: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = DATA / name
    assert _pprof(go, "-top", str(path)).returncode == 0  # pprof reads it ...
    capsys.readouterr()
    rc = main(["top", str(path)])
    err = capsys.readouterr().err.strip()
    assert rc != 0 and err.count("\n") == 0 and name in err, err  # ... we say why we do not
    assert "Traceback" not in err


def _damaged() -> list[tuple[str, bytes]]:
    heap = (DATA / "gobench.heap").read_bytes()
    thread = (DATA / "go.godoc.thread").read_bytes()
    lines = heap.split(b"\n")
    return [
        ("heap-bad-kind", heap.replace(b"@ heap/1048576", b"@ heapz/1048576", 1)),
        ("heap-bad-record", b"\n".join([lines[0], b"1: many [3: 1572864] @ 0x420cef", b""])),
        ("heap-zero-count", b"\n".join([lines[0], b"0: 288 [2: 296] @ 0x420cef", b""])),
        ("count-bad-record", thread.replace(b"1 @ 0x440e2", b"1 @ 0xnope")),
    ]


@pytest.mark.parametrize(("name", "data"), _damaged(), ids=[d[0] for d in _damaged()])
def test_what_pprof_rejects_we_reject_in_one_line(go: Path, tmp_path: Path, name: str,
                                                  data: bytes,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    assert _pprof(go, "-top", str(path)).returncode != 0  # pprof refuses it ...
    capsys.readouterr()
    rc = main(["top", str(path)])
    err = capsys.readouterr().err.strip()
    assert rc != 0 and err.count("\n") == 0 and str(path) in err, err  # ... and so do we
