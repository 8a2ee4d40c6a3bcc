"""The HTML renderer without a browser: escaping, self-containment, the vendored bundle."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path

import pytest

from flamehelp import make_diagnosis, make_profile
from leaksleuth.cli import main
from leaksleuth.report.flame import build_flame
from leaksleuth.report.html import render_html, script_json

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "src" / "leaksleuth" / "report" / "assets"
HOSTILE = "</script><script>alert(1)</script><!--<SCRIPT>x&y\u2028"


def data_block(html: str) -> str:
    m = re.search(r'<script type="application/json" id="leaksleuth-data">(.*?)</script>',
                  html, re.S)
    assert m, "no data block"
    return m.group(1)


def test_script_json_cannot_break_out_and_round_trips() -> None:
    text = script_json({"n": HOSTILE, "x": float("nan")})
    for bad in ("<", ">", "&", "\u2028"):
        assert bad not in text
    assert json.loads(text) == {"n": HOSTILE, "x": None}


def test_hostile_names_are_escaped_everywhere() -> None:
    d = make_diagnosis(leak_fn=HOSTILE)
    flame = build_flame(make_profile([(["main.main", HOSTILE], 100), (["main.main", "ok"], 1)]))
    html = render_html(d, flame=flame)
    # the only script elements are ours: one data block plus the inlined libraries and glue
    opens = len(re.findall(r"<script\b", html, re.I))
    closes = len(re.findall(r"</script", html, re.I))
    assert opens == closes
    assert "<script>alert(1)" not in html
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in html  # autoescaped suspect / summary
    block = json.loads(data_block(html))
    assert block["diagnosis"]["suspects"][0]["function"] == HOSTILE
    assert block["flame"]["root"]["c"][0]["c"][0]["n"] == HOSTILE


def test_page_is_self_contained() -> None:
    html = render_html(make_diagnosis(), flame=build_flame(make_profile([(["m"], 1)])))
    assert not re.search(r"<(script|img|iframe)[^>]*\bsrc=", html, re.I)
    assert not re.search(r"<link\b", html, re.I)
    assert "default-src 'none'" in html  # CSP: the page may not fetch anything
    assert "uPlot" in html and "flamegraph" in html


def test_sections_and_figures_are_rendered() -> None:
    d = make_diagnosis()
    html = render_html(d)
    assert 'class="verdict verdict-leak"' in html
    assert d.summary in html
    assert "main.cache" in html and "map[string][]uint8" in html  # map table
    assert "chan receive" in html and "main.handler.func1" in html  # goroutine groups
    assert "go1.23.9" in html and "interval" in html  # settings
    assert "Bound the cache or evict entries." in html
    assert 'id="flame"' not in html  # no flame data, no flame section
    no_maps = render_html(dataclasses.replace(d, maps=()))
    assert 'id="maps"' not in no_maps and 'id="maps"' in html
    with pytest.raises(ValueError):
        render_html()


def test_vendored_assets_match_manifest_and_lockfile() -> None:
    """The offline half of `scripts/bundle_assets.py --check` (CI runs the npm half)."""
    manifest = json.loads((ASSETS / "manifest.json").read_text())
    lock = json.loads((ROOT / "web" / "package-lock.json").read_text())["packages"]
    names = set()
    for pkg in manifest["packages"]:
        names.add(pkg["name"])
        assert lock[f"node_modules/{pkg['name']}"]["version"] == pkg["version"]
        assert lock[f"node_modules/{pkg['name']}"]["integrity"] == pkg["integrity"]
        for f in pkg["files"]:
            assert hashlib.sha256((ASSETS / f["file"]).read_bytes()).hexdigest() == f["sha256"]
        assert (ASSETS / pkg["license_file"]).stat().st_size > 100
    assert {"uplot", "d3-flame-graph", "d3-selection"} <= names


def test_report_command_errors_are_one_line(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["report", str(tmp_path / "nope"), "--html", str(tmp_path / "r.html")])
    err = capsys.readouterr().err
    assert rc != 0 and err.count("\n") == 1 and err.startswith("leaksleuth: error:")
    assert not (tmp_path / "r.html").exists()
