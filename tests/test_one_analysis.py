"""One analysis reads each stored profile once: ``diagnose --pid --html --json`` (live), and
``analyze``/``report`` on a stored session, all go through ``app.diagnose``.

The store's reader (``collect.session._read_checked``: read the file, check its hash) is
wrapped to count reads per file; every file a run parses must be parsed at most once.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from leaksleuth.app import diagnose
from leaksleuth.cli import main
from leaksleuth.collect import session as session_mod
from support.goservice import build_or_skip, run_go

GOLDEN_SESSION = Path(__file__).resolve().parent / "golden" / "session"
SCENARIOS = Path(__file__).resolve().parent / "scenarios"


@pytest.fixture()
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    counts: Counter[str] = Counter()
    real = session_mod._read_checked

    def counting(rec: session_mod.FileRecord) -> bytes:
        counts[str(rec.path)] += 1
        return real(rec)

    monkeypatch.setattr(session_mod, "_read_checked", counting)
    yield counts


@pytest.fixture()
def stored(tmp_path: Path) -> Path:
    copy = tmp_path / "session"
    shutil.copytree(GOLDEN_SESSION, copy)
    return copy


def assert_once(counts: Counter[str], kinds: tuple[str, ...]) -> None:
    twice = {p: n for p, n in counts.items() if n > 1}
    assert not twice, f"parsed more than once: {twice}"
    for kind in kinds:  # the run did read profiles: the counter sees them
        assert any(Path(p).name.startswith(kind) for p in counts), (kind, sorted(counts))


def test_diagnose_with_html_parses_each_stored_profile_once(
        reads: Counter[str], stored: Path) -> None:
    result = diagnose(stored, html=True)
    assert result.html and "<html" in result.html and result.diagnosis.window.snapshots == 6
    assert_once(reads, ("heap", "goroutine"))
    assert len(reads) >= 12  # six ticks, a heap and a goroutine profile each at least


@pytest.mark.parametrize("argv", [["analyze", "{s}", "--json", "-"],
                                  ["report", "{s}", "--html", "{o}"]])
def test_analyze_and_report_parse_each_profile_once(
        reads: Counter[str], stored: Path, tmp_path: Path, argv: list[str],
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.html"
    assert main([a.format(s=stored, o=out) for a in argv]) == 0, capsys.readouterr().err
    assert_once(reads, ("heap", "goroutine"))


def test_the_same_answer_as_before_reading_once(stored: Path) -> None:
    """Keeping the ends' profiles changes nothing: a fresh read gives the same diagnosis."""
    a = diagnose(stored, html=True)
    b = diagnose(stored)
    assert a.diagnosis.to_json_dict() == b.diagnosis.to_json_dict()


@pytest.mark.go
def test_diagnose_pid_html_json_parses_each_profile_once(
        reads: Counter[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exe = build_or_skip(SCENARIOS / "unbounded_map", "1.26.6")
    with run_go(exe) as svc:
        code = main(["diagnose", svc.url, "--duration", "5s", "--interval", "1s",
                     "--pid", str(svc.pid), "--out", str(tmp_path), "-q",
                     "--json", str(tmp_path / "d.json"), "--html", str(tmp_path / "d.html")])
        err = capsys.readouterr().err
        assert code in (0, 1), err  # 1: a leak was found
        assert svc.proc.poll() is None, "the inspected service must be left running"
    assert json.loads((tmp_path / "d.json").read_text())["schema"] == "leaksleuth.diagnosis/1"
    assert (tmp_path / "d.html").read_text().startswith("<!")
    # with --pid the executable's raw PCs (heap debug=1) are read too, once
    assert_once(reads, ("heap", "goroutine"))
    print(f"stored files parsed: {len(reads)}, each once")
