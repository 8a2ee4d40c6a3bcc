"""The HTML report in real headless Chromium, on a real leak found by leaksleuth's own pipeline.

A real leaky Go service (tests/scenarios/unbounded_map) runs on 127.0.0.1; leaksleuth collects
a session from it, ``leaksleuth report`` analyses it and writes the page; Chromium opens the
file with every non-file request aborted and recorded.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flamehelp import (
    FLAME_FRAMES_JS,
    PageWatch,
    launch_chromium,
    make_diagnosis,
    make_profile,
    settle,
)
from leaksleuth.cli import main
from leaksleuth.report.flame import build_flame
from leaksleuth.report.html import render_html

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
SCENARIO = ROOT / "tests" / "scenarios" / "unbounded_map"
LEAK_FUNCTION = "main.(*Store).Put"
HOSTILE = "<script>alert(1)</script>"

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (pip) not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        b = launch_chromium(pw)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield ctx.new_page()
    finally:
        ctx.close()


@pytest.fixture(scope="module")
def real_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session collected by leaksleuth from the running leaky service."""
    pytest.importorskip("leaksleuth.collect.collector", reason="collector not available")
    from leaksleuth.collect.collector import CollectConfig, collect
    from support.goservice import build_or_skip, run_go

    exe = build_or_skip(SCENARIO, "1.23.9")
    out = tmp_path_factory.mktemp("sessions")
    with run_go(exe) as svc:
        # 20 post-GC snapshots 0.5 s apart: enough points for the trend test, ~10 s
        info = collect(CollectConfig(url=svc.url, interval=0.5, count=20, out_dir=out))
    assert info.snapshots >= 16
    return info.path


@pytest.fixture(scope="module")
def real_report(real_session: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("leaksleuth.analyze.engine", reason="analysis engine not available")
    out = tmp_path_factory.mktemp("report") / "report.html"
    assert main(["report", str(real_session), "--html", str(out)]) == 0
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(out, ARTIFACTS / "report-real.html")
    return out


def open_report(page: Any, path: Path) -> PageWatch:
    watch = PageWatch(page)
    page.goto(path.resolve().as_uri())
    # a function, not an expression: Playwright evals expressions, which the CSP forbids
    page.wait_for_function("() => window.leaksleuth && window.leaksleuth.ready", timeout=30_000)
    settle(page)
    return watch


@pytest.mark.go  # the report of a real Go service
def test_real_leak_report(page: Any, real_report: Path) -> None:
    watch = open_report(page, real_report)
    data = json.loads(page.locator("#leaksleuth-data").text_content())
    diag = data["diagnosis"]
    assert diag["verdict"] == "leak"
    assert page.locator("#verdict-badge").inner_text().strip().lower() == "leak"
    assert page.locator("#summary").inner_text() == diag["summary"]
    assert diag["suspects"][0]["function"] == LEAK_FUNCTION
    assert page.locator(".suspect-function").first.inner_text() == LEAK_FUNCTION

    # charts: uPlot holds every snapshot's point, equal to the diagnosis' series
    heap = page.evaluate("leaksleuth.charts.heap.data")
    assert heap[0] == diag["heap"]["times"]
    assert heap[1] == diag["heap"]["floor_bytes"] and len(heap[1]) >= 12
    assert heap[2] == diag["heap"]["heap_alloc"] and heap[3] == diag["heap"]["next_gc"]
    assert heap[1][-1] > heap[1][0]  # the floor rose
    gor = page.evaluate("leaksleuth.charts.goroutines.data")
    assert gor[1] == diag["goroutines"]["counts"]
    marks = page.evaluate("leaksleuth.gcMarks")
    assert sum(m["cycles"] for m in marks) == (diag["heap"]["num_gc"][-1]
                                               - diag["heap"]["num_gc"][0])
    assert page.locator("#chart-heap canvas").count() >= 1

    # flame graph of what grew: the widest own (self) frame is the leaking function
    frames = page.evaluate(FLAME_FRAMES_JS)
    assert frames, "no flame frames drawn"
    biggest = max((f for f in frames if f["depth"] > 0), key=lambda f: f["self"])
    assert biggest["name"] == LEAK_FUNCTION
    assert biggest["label"] == LEAK_FUNCTION and biggest["width"] > 300
    assert page.locator("#flame-pruning").inner_text()

    # search highlights only matching frames
    page.fill("#flame-search", "Store")
    settle(page)
    frames = page.evaluate(FLAME_FRAMES_JS)
    lit = {f["name"] for f in frames if f["fill"] == "#e600e6"}
    assert lit == {LEAK_FUNCTION}
    assert page.evaluate("leaksleuth.search.matches") == 1

    # goroutine groups and settings are there
    assert page.locator("#goroutine-groups tbody tr").count() >= 1
    assert "interval" in page.locator("#settings").inner_text()
    page.fill("#flame-search", "")
    page.locator("#flame-search").blur()
    settle(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-real.png"), full_page=True)
    watch.assert_clean()


@pytest.mark.go  # the report of a real Go service
def test_click_zooms_on_a_real_profile(page: Any, real_session: Path, tmp_path: Path) -> None:
    """`leaksleuth flame` on the service's real goroutine profile (several branches)."""
    last = sorted((real_session / "snapshots").iterdir())[-1]
    out = tmp_path / "flame.html"
    assert main(["flame", str(last / "goroutine.pb.gz"), "--html", str(out)]) == 0
    watch = open_report(page, out)
    frames = page.evaluate(FLAME_FRAMES_JS)
    full = max(f["width"] for f in frames)
    narrow = [f for f in frames if f["depth"] > 0 and 40 < f["width"] < full * 0.8]
    assert narrow, f"no narrow frame to zoom on: {[(f['name'], f['width']) for f in frames]}"
    target = min(narrow, key=lambda f: f["width"])
    page.locator("#flame g.frame", has=page.locator(f"div:text-is('{target['name']}')")).first \
        .click()
    settle(page)
    after = {f["name"]: f for f in page.evaluate(FLAME_FRAMES_JS)}
    assert page.evaluate("leaksleuth.zoomed") == target["name"]
    assert after[target["name"]]["width"] > full * 0.95  # it fills the width now
    page.click("#flame-reset")
    settle(page)
    again = {f["name"]: f for f in page.evaluate(FLAME_FRAMES_JS)}
    assert abs(again[target["name"]]["width"] - target["width"]) < 2
    watch.assert_clean()


def test_hostile_function_name_renders_as_text(page: Any, tmp_path: Path) -> None:
    d = make_diagnosis(leak_fn=HOSTILE)
    profile = make_profile([(["main.main", HOSTILE], 5 << 20), (["main.main", "ok"], 1 << 20)])
    base = make_profile([(["main.main", "ok"], 1 << 20)])
    out = tmp_path / "hostile.html"
    out.write_text(render_html(d, flame=build_flame(profile, base=base)))
    watch = open_report(page, out)
    assert page.locator(".suspect-function").first.inner_text() == HOSTILE
    assert page.locator(".suspect-function").first.is_visible()
    frames = {f["name"]: f for f in page.evaluate(FLAME_FRAMES_JS)}
    assert frames[HOSTILE]["label"] == HOSTILE  # drawn as text in the frame
    page.fill("#flame-search", "<script>")  # a plain substring search, not a regex
    settle(page)
    assert page.evaluate("leaksleuth.search.matches") == 1
    page.fill("#flame-search", "")
    hostile_frame = page.locator("#flame g.frame", has=page.locator(f"div:text-is('{HOSTILE}')"))
    hostile_frame.first.hover()
    details = page.locator("#flame-details").inner_text()
    assert details.startswith(HOSTILE)
    assert "now 5.2 MB" in details and "growth 5.2 MB" in details  # 5 MiB, decimal units
    # differential widths: "ok" did not grow, so it is drawn only in the "in use now" mode
    assert "ok" not in frames
    page.select_option("#flame-mode", "t")
    settle(page)
    now = {f["name"]: f for f in page.evaluate(FLAME_FRAMES_JS)}
    assert now["ok"]["width"] > 100 and now[HOSTILE]["width"] > 4 * now["ok"]["width"]
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("script:not([type])").count() == 17  # 16 libraries + our glue
    watch.assert_clean()  # includes: no dialog fired


def test_edge_cases_render_without_errors(browser: Any, tmp_path: Path) -> None:
    """Nothing grew; no data at all; a plain (non-differential) flame graph."""
    same = make_profile([(["main.main", "main.cache"], 1 << 20)])
    flat = dataclasses.replace(make_diagnosis(), verdict="no-leak", suspects=(), maps=())
    empty_heap = dataclasses.replace(flat.heap, times=(), floor_bytes=(), heap_alloc=(),
                                     next_gc=(), heap_objects=(), num_gc=(), stack_inuse=())
    empty = dataclasses.replace(
        flat, verdict="inconclusive", heap=empty_heap,
        goroutines=dataclasses.replace(flat.goroutines, times=(), counts=(), groups=(),
                                       growing_groups=()))
    pages = {
        "nogrowth": render_html(flat, flame=build_flame(same, base=same)),
        "empty": render_html(empty),
        "plain": render_html(flame=build_flame(same, title=HOSTILE)),
        "long": render_html(make_diagnosis(n=500)),  # a long session: 500 points, 499 marks
    }
    for name, html in pages.items():
        out = tmp_path / f"{name}.html"
        out.write_text(html)
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            check_edge_case(ctx.new_page(), name, out)
        finally:
            ctx.close()


def check_edge_case(page: Any, name: str, out: Path) -> None:
    """One edge-case page: opens clean, and shows what it should."""
    watch = open_report(page, out)
    watch.assert_clean()
    if name == "nogrowth":  # nothing grew: the page opens on "in use now" widths
        assert page.evaluate("leaksleuth.flameKey") == "t"
        frames = {f["name"]: f for f in page.evaluate(FLAME_FRAMES_JS)}
        assert frames["main.cache"]["width"] > 1000
    if name == "plain":
        frames = {f["name"]: f for f in page.evaluate(FLAME_FRAMES_JS)}
        assert frames["main.cache"]["width"] > 1000
        assert page.title() == f"leaksleuth flame graph: {HOSTILE}"
    if name == "long":
        assert len(page.evaluate("leaksleuth.charts.heap.data[1]")) == 500
        assert len(page.evaluate("leaksleuth.gcMarks")) == 499
    if name == "empty":
        assert page.locator("#verdict-badge").inner_text().lower() == "inconclusive"
