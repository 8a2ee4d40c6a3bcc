"""Golden files: every renderer's output for fixed inputs, compared byte for byte.

The inputs are committed: ``golden/session`` is a real session recorded once from
``scenarios/goroutine_chan`` under Go 1.26.6 (six snapshots), and its profiles serve ``top``,
``diff`` and ``goroutines``. The commands run in-process exactly as a user runs them. Any
change to what a user sees shows up here as a diff; when the change is meant, regenerate with
``python -m pytest tests/test_golden.py --update-golden`` (or ``LEAKSLEUTH_UPDATE_GOLDEN=1``)
and review the changed files under ``tests/golden/expected`` like code.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from leaksleuth.cli import main
from leaksleuth.report import html as html_report

GOLDEN = Path(__file__).resolve().parent / "golden"
SESSION = GOLDEN / "session"
EXPECTED = GOLDEN / "expected"
SNAP = SESSION / "snapshots"


def html_stable(page: str) -> str:
    """The page without what is not ours to pin: the vendored library files (their versions
    are checked by scripts/bundle_assets.py) and the time of generation."""
    assets = html_report._assets()
    for i, text in enumerate((*assets.styles, *assets.scripts)):
        page = page.replace(text, f"[asset {i}]")
    return re.sub(r"at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\.", "at [generated] UTC.", page)


def check(name: str, actual: bytes, update: bool) -> None:
    path = EXPECTED / name
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(actual)
        return
    assert path.exists(), f"{path} missing: run with --update-golden once and commit it"
    expected = path.read_bytes()
    if actual != expected:
        # show the first differing line, not two walls of text
        a, e = actual.decode(errors="replace"), expected.decode(errors="replace")
        for n, (la, le) in enumerate(zip(a.splitlines(), e.splitlines(), strict=False), 1):
            if la != le:
                pytest.fail(f"{name}:{n} differs from the golden file\n got: {la!r}\n"
                            f"want: {le!r}\n(meant? rerun with --update-golden and review)")
        pytest.fail(f"{name}: {len(actual)} bytes, golden has {len(expected)} "
                    "(meant? rerun with --update-golden and review)")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> bytes:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out.encode()


@pytest.fixture()
def session(tmp_path: Path) -> Path:
    """A copy: opening a session may touch its SQLite files, and the golden tree stays clean."""
    copy = tmp_path / "session"
    shutil.copytree(SESSION, copy)
    return copy


CASES = {
    "top.txt": ["top", str(SNAP / "000005" / "heap.pb.gz")],
    "top.json": ["top", str(SNAP / "000005" / "heap.pb.gz"), "--json"],
    "top-cum-goroutine.txt": ["top", str(SNAP / "000005" / "goroutine.pb.gz"), "--cum"],
    "diff.txt": ["diff", str(SNAP / "000000" / "heap.pb.gz"), str(SNAP / "000005" / "heap.pb.gz")],
    "diff.json": ["diff", str(SNAP / "000000" / "heap.pb.gz"), str(SNAP / "000005" / "heap.pb.gz"),
                  "--json"],
    "goroutines-dump.txt": ["goroutines", str(SNAP / "000005" / "goroutine.txt")],
    "goroutines-dump.json": ["goroutines", str(SNAP / "000005" / "goroutine.txt"), "--json"],
    "goroutines-profile.txt": ["goroutines", str(SNAP / "000005" / "goroutine.pb.gz")],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_profile_commands(name: str, capsys: pytest.CaptureFixture[str],
                          update_golden: bool) -> None:
    out = run_cli(capsys, *CASES[name])
    # the file names are the committed paths; keep the golden independent of the checkout
    check(name, out.replace(str(GOLDEN).encode(), b"GOLDEN"), update_golden)


def test_analyze_text_and_json(session: Path, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch, update_golden: bool) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    text = run_cli(capsys, "analyze", str(session))
    check("analyze.txt", text, update_golden)
    doc = run_cli(capsys, "analyze", str(session), "--json", "-")
    check("analyze.json", doc, update_golden)


def test_report_html(session: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                     update_golden: bool) -> None:
    out = tmp_path / "report.html"
    run_cli(capsys, "report", str(session), "--html", str(out))
    check("report.html", html_stable(out.read_text(encoding="utf-8")).encode(), update_golden)


def test_flame_html(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                    update_golden: bool) -> None:
    out = tmp_path / "flame.html"
    run_cli(capsys, "flame", str(SNAP / "000005" / "heap.pb.gz"), "--base",
            str(SNAP / "000000" / "heap.pb.gz"), "--html", str(out))
    page = html_stable(out.read_text(encoding="utf-8")).replace(str(GOLDEN), "GOLDEN")
    check("flame.html", page.encode(), update_golden)
