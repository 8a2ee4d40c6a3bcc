"""Golden files: every renderer's output for fixed inputs, compared byte for byte.

The inputs are committed: ``golden/session`` is a real session recorded once from
``scenarios/goroutine_chan`` under Go 1.26.6 (six snapshots), and its profiles serve ``top``,
``diff`` and ``goroutines``. The commands run in-process exactly as a user runs them. Any
change to what a user sees shows up here as a diff; the harness and its update switch are
``support.golden``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from leaksleuth.cli import main
from support.golden import GOLDEN, html_stable
from support.golden import check_golden as check

SESSION = GOLDEN / "session"
SNAP = SESSION / "snapshots"


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
