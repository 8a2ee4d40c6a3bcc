"""Helpers for tests that compare leaksleuth with ``go tool pprof``: run it, parse its text."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from leaksleuth.cli import main
from leaksleuth.toolchain import go_tool_env

_UNITS = {"B": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40, "": 1}
_VALUE = re.compile(r"^(-?[0-9.]+(?:e[+-]?\d+)?)([A-Za-z]*)$")
_ROW = re.compile(
    r"^\s*(\S+)\s+(\S+%)\s+(\S+%)\s+(\S+)\s+(\S+%)\s+(.+?)(?: \((?:partial-)?inline\))?$"
)
_SHOWING = re.compile(r"^Showing nodes accounting for (\S+), (\S+) of (\S+) total$")


def parse_value(text: str) -> tuple[float, float]:
    """A pprof value like ``1.50MB`` as (value in base units, display rounding error bound)."""
    if text == "0":
        return 0.0, 0.0
    m = _VALUE.match(text)
    if not m:
        raise ValueError(f"not a pprof value: {text!r}")
    factor = _UNITS[m.group(2)]
    # printed with %.2f: off by at most half a hundredth of the unit
    return float(m.group(1)) * factor, 0.005 * factor + 1e-9


@dataclass
class PprofTop:
    rows: list[tuple[str, str, str]]  # (name, flat text, cum text)
    shown: str
    total: str
    header: list[str]


def run_pprof(go: Path, *args: str) -> str:
    res = subprocess.run(
        [str(go), "tool", "pprof", "-top", *args], env=go_tool_env(go), capture_output=True,
        text=True, timeout=300, check=False,
    )
    if res.returncode != 0:
        raise AssertionError(f"go tool pprof {args} failed: {res.stderr[-2000:]}")
    return res.stdout


def parse_top(text: str) -> PprofTop:
    rows: list[tuple[str, str, str]] = []
    header: list[str] = []
    shown = total = ""
    in_rows = False
    for line in text.splitlines():
        if in_rows:
            m = _ROW.match(line)
            assert m, f"unparsed pprof row: {line!r}"
            rows.append((m.group(6), m.group(1), m.group(4)))
            continue
        if line.strip().startswith("flat  flat%"):
            in_rows = True
            continue
        header.append(line)
        m2 = _SHOWING.match(line)
        if m2:
            shown, total = m2.group(1), m2.group(3)
    assert total, f"no 'Showing nodes' line in pprof output:\n{text}"
    return PprofTop(rows, shown, total, header)


def assert_close(ours: int, theirs: str, what: str) -> None:
    value, err = parse_value(theirs)
    assert abs(ours - value) <= err, f"{what}: leaksleuth {ours} vs pprof {theirs}"


def ours_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    """leaksleuth's answer to the same question, through the CLI with ``--json``."""
    capsys.readouterr()
    rc = main([*args, "--json"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    doc: dict[str, object] = json.loads(cap.out)
    return doc
