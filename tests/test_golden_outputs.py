"""`top`, `diff` and `flame` output byte for byte against golden files.

The golden files were written by the code before the profile reader moved its hot loops to
C, so these tests hold the output to what it was. After a deliberate change of output,
rewrite them with ``LEAKSLEUTH_UPDATE_GOLDEN=1 python -m pytest tests/test_golden_outputs.py``
and review the diff.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

from goldenprof import write_inputs
from leaksleuth.cli import main

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("LEAKSLEUTH_UPDATE_GOLDEN") == "1"

CASES: dict[str, list[str]] = {
    "top": ["top", "{new}"],
    "top_cum_inuse": ["top", "--cum", "--sample-index", "inuse_space", "{new}"],
    "top_focus_ignore": ["top", "--focus", "db\\.", "--ignore", "fn4$", "--nodecount", "12",
                         "{new}"],
    "top_json": ["top", "--json", "{new}"],
    "diff": ["diff", "{base}", "{new}"],
    "diff_cum_json": ["diff", "--cum", "--json", "{base}", "{new}"],
    "flame": ["flame", "{new}", "--html", "{out}"],
    "flame_base": ["flame", "{new}", "--base", "{base}", "--html", "{out}"],
}
_STAMP = re.compile(r" at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")
_DATA = re.compile(r'<script type="application/json" id="leaksleuth-data">(.*?)</script>', re.S)


def page_digest(html: str) -> str:
    """A flame page as its data (the tree, in full) and a digest of the rest (the template
    and the vendored scripts, ~300 KB), without its generation time."""
    html = _STAMP.sub("", html)
    m = _DATA.search(html)
    assert m is not None, "no data block in the page"
    rest = html[: m.start(1)] + html[m.end(1) :]
    return f"{m.group(1)}\n--- the page around the data: sha256 " \
           f"{hashlib.sha256(rest.encode()).hexdigest()}\n"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_inputs(tmp_path_factory.mktemp("golden"))


@pytest.mark.parametrize("case", sorted(CASES))
def test_output_matches_golden(case: str, inputs: dict[str, Path], tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.html"
    argv = [a.format(new=inputs["new"], base=inputs["base"], out=out) for a in CASES[case]]
    assert main(argv) == 0
    got = capsys.readouterr().out
    if out.exists():  # the page itself
        got = out.read_text(encoding="utf-8")
    got = got.replace(str(tmp_path), "TMP").replace(str(inputs["new"].parent), "IN")
    if out.exists():
        got = page_digest(got)
    path = GOLDEN / f"{case}.txt"
    if UPDATE:
        path.write_text(got, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}: run with LEAKSLEUTH_UPDATE_GOLDEN=1"
    assert got == path.read_text(encoding="utf-8")
