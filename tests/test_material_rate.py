"""``--material-rate``: the growth that matters, set by the user. Parsing (good and bad input:
one line, exit 2, before any work starts), the watch configuration's key, and a stored real
session analysed with it (the live runs are in test_diagnose_cli and test_watch_layer3)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from leaksleuth.cli import main
from leaksleuth.errors import UsageError
from leaksleuth.units import parse_rate
from leaksleuth.watch.config import parse_config

SESSION = Path(__file__).resolve().parent / "golden" / "session"


@pytest.mark.parametrize(("text", "value"), [
    ("20kB/s", 20_000.0), ("20 kB/s", 20_000.0), ("1MiB/s", 1_048_576.0), ("50000", 50_000.0),
    ("64KiB", 65_536.0), ("0.5MB/s", 500_000.0), ("10b/S", 10.0),
])
def test_parse_rate(text: str, value: float) -> None:
    assert parse_rate(text) == value


@pytest.mark.parametrize(("text", "message"), [
    ("", "not a rate"), ("fast", "not a rate"), ("20kB/min", "not a rate"),
    ("-5kB/s", "not a rate"), ("/s", "not a rate"), ("0", "must be positive"),
    ("0kB/s", "must be positive"),
])
def test_parse_rate_refuses(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_rate(text)


@pytest.mark.parametrize("argv", [
    ["analyze", "SESSION", "--material-rate", "fast"],
    ["report", "SESSION", "--html", "OUT/r.html", "--material-rate", "0"],
    # refused before any collection starts (nothing listens on port 1)
    ["diagnose", "http://127.0.0.1:1", "--out", "OUT", "--material-rate", "20kB/min"],
    ["demo", "--out", "OUT", "--material-rate", "lots"],  # before the demo is built
])
def test_bad_rate_is_one_line_exit_2(argv: list[str], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    args = [a.replace("SESSION", str(SESSION)).replace("OUT", str(tmp_path)) for a in argv]
    assert main(args) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("leaksleuth: error: --material-rate: "), err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing collected, nothing written


def test_analyze_stored_session_with_a_rate(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A real recorded session: the rate reaches ``sensitivity`` and ``settings``; without
    the flag the default rule holds; the offline analysis leaves the session untouched."""
    copy = tmp_path / "session"
    shutil.copytree(SESSION, copy)
    before = (copy / "analysis-inputs.json").read_bytes()
    assert main(["analyze", str(copy), "--json", "-"]) == 0
    default = json.loads(capsys.readouterr().out)
    assert default["sensitivity"]["material_bytes_per_second"] == 50_000.0
    assert "material_rate" not in default["settings"]
    assert main(["analyze", str(copy), "--json", "-", "--material-rate", "20kB/s"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["sensitivity"]["material_bytes_per_second"] == 20_000.0
    assert doc["settings"]["material_rate"] == 20_000.0
    # the watch time follows: a slower rate takes longer to see through the same noise
    assert doc["sensitivity"]["watch_seconds"] > default["sensitivity"]["watch_seconds"]
    assert (copy / "analysis-inputs.json").read_bytes() == before


def test_watch_config_material_rate(tmp_path: Path) -> None:
    base = {"targets": [{"name": "a", "pprof_url": "http://127.0.0.1:1/debug/pprof"}]}
    cfg = parse_config({**base, "schedule": {"material_rate": "20kB/s"}}, base=tmp_path)
    assert cfg.schedule.material_rate == 20_000.0
    assert parse_config({**base, "schedule": {"material_rate": 1500}},
                        base=tmp_path).schedule.material_rate == 1500.0
    assert parse_config(base, base=tmp_path).schedule.material_rate is None
    for bad, message in (("fast", "schedule.material_rate: not a rate"),
                         (0, "schedule.material_rate: must be a positive rate"),
                         (True, "schedule.material_rate: expected a rate")):
        with pytest.raises(UsageError, match=message):
            parse_config({**base, "schedule": {"material_rate": bad}}, base=tmp_path)
