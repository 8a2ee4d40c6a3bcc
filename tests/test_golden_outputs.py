"""`top`, `diff` and `flame` output byte for byte against golden files, on large generated
profiles (``goldenprof``: deep stacks, many functions, a base and a new profile), where the
reader's batching and the C loops are exercised; the harness and its update switch are
``support.golden``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from goldenprof import write_inputs
from leaksleuth.cli import main
from support.golden import check_golden, page_digest

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


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_inputs(tmp_path_factory.mktemp("golden"))


@pytest.mark.parametrize("case", sorted(CASES))
def test_output_matches_golden(case: str, inputs: dict[str, Path], tmp_path: Path,
                               capsys: pytest.CaptureFixture[str], update_golden: bool) -> None:
    out = tmp_path / "out.html"
    argv = [a.format(new=inputs["new"], base=inputs["base"], out=out) for a in CASES[case]]
    assert main(argv) == 0
    got = capsys.readouterr().out
    if out.exists():  # the page itself
        got = out.read_text(encoding="utf-8")
    got = got.replace(str(tmp_path), "TMP").replace(str(inputs["new"].parent), "IN")
    if out.exists():
        got = page_digest(got)
    check_golden(f"deep/{case}.txt", got.encode("utf-8"), update_golden)
