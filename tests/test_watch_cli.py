"""``leaksleuth watch`` as a command: bad configs are one line and exit 2; ``--once`` runs a
round, reports a target it cannot reach without a traceback, and leaves its state behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from support.promserver import free_port


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "leaksleuth", "watch", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(("text", "message"), [
    ("[prometheus\nurl=1", "not valid TOML"),
    ("[[targets]]\nname='a'\npprof_url='http://127.0.0.1:1'\ncolour='red'\n",
     "unknown setting 'colour'"),
    ("[schedule]\nscreen_every='1s'\n", "nothing to watch"),
    ("[[targets]]\nname='a'\npprof_url='http://127.0.0.1:1'\n[alerts]\nfor='soon'\n",
     "alerts.for: not a duration"),
])
def test_bad_config_one_line_exit_2(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "w.toml").write_text(text)
    r = run("--config", "w.toml", "--once", cwd=tmp_path)
    assert r.returncode == 2
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr


def test_missing_config(tmp_path: Path) -> None:
    r = run("--config", "nope.toml", cwd=tmp_path)
    assert r.returncode == 2 and "cannot read the config" in r.stderr


def test_once_with_an_unreachable_target(tmp_path: Path) -> None:
    port = free_port()  # closed again: nothing listens there
    (tmp_path / "w.toml").write_text(f"""
[[targets]]
name = "gone"
pprof_url = "http://127.0.0.1:{port}/debug/pprof"
[schedule]
diagnosis_duration = "3s"
diagnosis_interval = "1s"
""")
    r = run("--config", "w.toml", "--once", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "gone:" in r.stderr and "retry in" in r.stderr
    assert "Traceback" not in r.stderr
    assert (tmp_path / "leaksleuth-watch" / "state.sqlite").is_file()
    # nothing half-built is left in the evidence directory
    assert list((tmp_path / "leaksleuth-watch" / "evidence" / ".incoming").iterdir()) == []


def test_the_documented_example_config_loads() -> None:
    from leaksleuth.watch.config import load_config

    cfg = load_config(Path(__file__).resolve().parent.parent / "docs" / "watch.example.toml")
    assert cfg.prometheus is not None and cfg.targets[0].memory_limit_bytes == 2 << 30
    assert cfg.alerts.critical.time_to_exhaustion == 6 * 3600
    assert cfg.alerts.webhook_url and cfg.alerts.alertmanager_url


@pytest.mark.slow
@pytest.mark.go
def test_once_prints_the_fleet_table(tmp_path: Path) -> None:
    """``--once`` beside a real Prometheus scraping real Go services: the ranked table."""
    import time

    from support.goservice import TESTS_DIR, build_or_skip, run_go
    from support.promserver import prometheus_or_skip, run_prometheus

    prometheus_or_skip()
    exe = build_or_skip(TESTS_DIR / "goprogs" / "promsvc", "1.26.6")
    with run_go(exe) as a, run_go(exe, "-leak", "2000000") as b, \
            run_prometheus({"fleet": [(a.addr, {}), (b.addr, {})]}) as prom:
        prom.wait_targets_up(2)
        time.sleep(25)
        (tmp_path / "w.toml").write_text(f"""
[prometheus]
url = "{prom.url}"
selector = '{{job="fleet"}}'
pprof_url = ""
[schedule]
window = "24s"
step = "2s"
""")
        r = run("--config", "w.toml", "--once", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    row_a = next(x for x in lines if a.addr in x)
    row_b = next(x for x in lines if b.addr in x)
    assert lines.index(row_b) < lines.index(row_a)  # the leaker ranks first
    assert "leak-suspect" in row_b or "growing" in row_b
