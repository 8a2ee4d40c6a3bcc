"""The shipped Prometheus rules file: valid for ``promtool check rules``, and its layers behave
(``promtool test rules`` on series of our own metrics): a steady leak fires warning after the
hold, a fast one critical, one noisy point neither fires nor clears, a healthy target stays
silent."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import leaksleuth.watch

RULES = Path(leaksleuth.watch.__file__).parent / "prometheus-rules.yml"


def promtool() -> str:
    exe = shutil.which("/usr/bin/promtool") or shutil.which("promtool")
    if exe is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return exe


def test_rules_file_is_valid() -> None:
    out = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True,
                         text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 4 rules found" in out.stdout


def _alert(target: str, severity: str) -> str:
    word = "leaking memory (warning)" if severity == "warning" else \
        "leaking memory fast (critical)"
    return f"""
          - exp_labels: {{severity: {severity}, target: "{target}"}}
            exp_annotations:
              summary: "{target} is {word}"
              description: "Open the evidence bundle leaksleuth watch captured for {target}."
"""


def test_rules_layers_hold_and_hysteresis(tmp_path: Path) -> None:
    # one point a minute; "x" repeats: '0.9x40' is 41 points of 0.9
    series = {
        # steady 100 KB/s with good confidence: warning, never critical
        "steady": ("0.9x60", "100000x60"),
        # fast: 2 MB/s: critical (and warning)
        "fast": ("0.95x60", "2000000x60"),
        # healthy: no growth
        "healthy": ("0.9x60", "0x60"),
        # a single noisy spike at minute 5, else flat: must not fire
        "spike": ("0.9x60", "0x4 500000 0x55"),
        # steady leak with one noisy zero at minute 20, then in the hysteresis band (60 KB/s,
        # under the 64 KiB/s threshold but above its 80%) until 40, then gone
        "noisy": ("0.9x60", "100000x19 0 100000x4 60000x15 0x20"),
    }
    lines = []
    for t, (conf, growth) in series.items():
        lines.append(f"""      - series: 'leaksleuth_leak_confidence{{target="{t}"}}'
        values: '{conf}'
      - series: 'leaksleuth_growth_bytes_per_second{{target="{t}"}}'
        values: '{growth}'""")
    body = "\n".join(lines)
    test = f"""rule_files:
  - {RULES}
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
{body}
    alert_rule_test:
      - eval_time: 8m
        alertname: GoMemoryLeak
        exp_alerts: []
      - eval_time: 12m
        alertname: GoMemoryLeak
        exp_alerts:
{_alert("steady", "warning")}{_alert("fast", "warning")}{_alert("fast", "critical")}\
{_alert("noisy", "warning")}
      - eval_time: 21m
        alertname: GoMemoryLeak
        exp_alerts:
{_alert("steady", "warning")}{_alert("fast", "warning")}{_alert("fast", "critical")}\
{_alert("noisy", "warning")}
      - eval_time: 38m
        alertname: GoMemoryLeak
        exp_alerts:
{_alert("steady", "warning")}{_alert("fast", "warning")}{_alert("fast", "critical")}\
{_alert("noisy", "warning")}
      - eval_time: 55m
        alertname: GoMemoryLeak
        exp_alerts:
{_alert("steady", "warning")}{_alert("fast", "warning")}{_alert("fast", "critical")}
"""
    path = tmp_path / "rules_test.yml"
    path.write_text(test)
    out = subprocess.run([promtool(), "test", "rules", str(path)], capture_output=True,
                         text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_rules_test_can_fail(tmp_path: Path) -> None:
    """The harness above is not vacuous: expecting the healthy target to alert fails."""
    test = f"""rule_files:
  - {RULES}
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'leaksleuth_leak_confidence{{target="healthy"}}'
        values: '0.9x30'
      - series: 'leaksleuth_growth_bytes_per_second{{target="healthy"}}'
        values: '0x30'
    alert_rule_test:
      - eval_time: 20m
        alertname: GoMemoryLeak
        exp_alerts:
{_alert("healthy", "warning")}
"""
    path = tmp_path / "rules_test.yml"
    path.write_text(test)
    out = subprocess.run([promtool(), "test", "rules", str(path)], capture_output=True,
                         text=True, check=False)
    assert out.returncode != 0
