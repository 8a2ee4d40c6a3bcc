"""Every renderer on hostile names and empty inputs: nothing crashes, nothing escapes.

A function, variable or file name comes from the profiled service, so it is untrusted: it may
close a ``<script>``, carry terminal escape sequences (clear the screen, retitle the window,
fake colours), control characters, invalid UTF-8, or be 10,000 characters long. Each case runs
through every renderer: the diagnosis as text (plain and colour), JSON and HTML; ``top`` and
``diff`` as text, rich and JSON; goroutine groups as plain text, rich and JSON; the ``maps``
and ``classify`` tables; the flame graph page.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from flamehelp import make_diagnosis, make_profile
from leaksleuth.analyze.diagnosis import Diagnosis, GoroutineSeries, HeapSeries, Window
from leaksleuth.cli import main
from leaksleuth.inspect.classify import SiteKind
from leaksleuth.inspect.maps import MapInspection, MapReport
from leaksleuth.inspect.text import render_classification, render_inspection
from leaksleuth.report import goroutine_table as gt
from leaksleuth.report.flame import build_flame
from leaksleuth.report.html import render_html
from leaksleuth.report.json import to_json
from leaksleuth.report.text import to_text
from pprofbuild import Builder

# as the bytes a service could put in a profile; renderers that take str get them decoded with
# surrogateescape (what a careless decoder would hand on: lone surrogates)
HOSTILE: dict[str, bytes] = {
    "script": b"</script><script>alert(1)</script><!--",
    "long": b"main." + b"x" * 10_000,
    "ansi": b"main.evil\x1b[2J\x1b]0;pwned\x07\x1b[31mred",
    "control": b"main.ctl\r\x08\x00\x7f\xc2\x9b\xe2\x80\xa8end",
    "non-utf8": b"main.\xff\xfe\xc3(bad",
}

# what must never reach a terminal or a text file: C0 controls but newline, DEL, C1 controls,
# the Unicode line/paragraph separators and lone surrogates (which cannot even be encoded)
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
RICH_SGR = re.compile(r"\x1b\[[0-9;]*m")  # rich's own colour codes, in colour mode only


def as_str(name: bytes) -> str:
    return name.decode("utf-8", "surrogateescape")


def assert_safe_text(out: str, *, colour: bool = False) -> None:
    body = RICH_SGR.sub("", out) if colour else out
    bad = sorted({hex(ord(c)) for c in UNSAFE.findall(body)})
    assert not bad, f"unsafe characters reach the output: {bad}"
    out.encode("utf-8")  # printable to any UTF-8 stream


def assert_safe_json(out: str) -> object:
    assert not UNSAFE.search(out.replace("\n", " ")), "raw control characters in JSON"
    return json.loads(out)


def diagnosis_with(name: str) -> Diagnosis:
    d = make_diagnosis(target=f"http://127.0.0.1:6060/{name}", leak_fn=name)
    g = dataclasses.replace(d.goroutines.groups[0], function=name, created_by=name,
                            stack=(name,), states=(name,))
    maps = (dataclasses.replace(d.maps[0], variable=name, type=name),)
    return dataclasses.replace(
        d, summary=f"{name} grows", go_version=name, maps=maps,
        goroutines=dataclasses.replace(d.goroutines, growing_groups=(g,), groups=(g,)),
        suspects=(dataclasses.replace(d.suspects[0], evidence=(f"{name} holds it",),
                                      variable=name, allocation=name),),
        settings={"notes": [f"map inspection failed: {name}"], name: name})


def heap_file(tmp: Path, name: bytes, value: int = 100) -> Path:
    b = Builder([("alloc_objects", "count"), ("alloc_space", "bytes"),
                 ("inuse_objects", "count"), ("inuse_space", "bytes")])
    b.function(1, b"main.main").function(2, name, filename=name)
    b.location(1, [1]).location(2, [2])
    b.sample([2, 1], [1, value, 1, value]).sample([1], [1, 7, 1, 7])
    path = tmp / f"heap-{value}.pb"
    path.write_bytes(b.build())
    return path


def dump_file(tmp: Path, name: bytes) -> Path:
    text = (b"goroutine 1 [running]:\nmain.main()\n\t/src/main.go:3 +0x1\n\n"
            b"goroutine 7 [" + name + b", 5 minutes]:\n" + name + b"(0x1)\n\t/src/" + name
            + b".go:10 +0x1d\ncreated by " + name + b" in goroutine 1\n\t/src/main.go:5 +0x2\n")
    path = tmp / "dump.txt"
    path.write_bytes(text)
    return path


def cli_out(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def map_inspection(name: str) -> MapInspection:
    m = MapReport(variable=name, type=name, layout="swiss", live_entries=1, count_field=1,
                  capacity_slots=8, deleted_slots=7, empty_slots=0, bytes_held=4096,
                  bytes_needed=16, details={"small": True})
    return MapInspection(target=f"pid {name}", exe=name, go_version=name, layout="swiss",
                         maps=(m,), stopped_seconds=0.01, gdb_seconds=0.5,
                         warnings=(f"{name} warned",))


# --- the renderers, each as (name -> text, kind) ----------------------------------------------

Renderer = Callable[[bytes, Path, pytest.CaptureFixture[str], pytest.MonkeyPatch], str]


def r_text(name: bytes, tmp: Path, capsys: pytest.CaptureFixture[str],
           mp: pytest.MonkeyPatch) -> str:
    return to_text(diagnosis_with(as_str(name)), width=100)


def r_text_colour(name: bytes, tmp: Path, capsys: pytest.CaptureFixture[str],
                  mp: pytest.MonkeyPatch) -> str:
    return to_text(diagnosis_with(as_str(name)), width=100, color=True)


def r_json(name: bytes, tmp: Path, capsys: pytest.CaptureFixture[str],
           mp: pytest.MonkeyPatch) -> str:
    return to_json(diagnosis_with(as_str(name)))


def via_cli(args: Callable[[bytes, Path], list[str]], *, tty: bool = False) -> Renderer:
    """A renderer that runs a command in-process; ``tty``: as if stdout were a terminal."""

    def render(name: bytes, tmp: Path, capsys: pytest.CaptureFixture[str],
               mp: pytest.MonkeyPatch) -> str:
        argv = args(name, tmp)
        if tty:
            mp.setattr(sys.stdout, "isatty", lambda: True)
            mp.setenv("COLUMNS", "100")
        return cli_out(capsys, *argv)

    return render


def top_args(name: bytes, tmp: Path) -> list[str]:
    return ["top", str(heap_file(tmp, name))]


def diff_args(name: bytes, tmp: Path) -> list[str]:
    return ["diff", str(heap_file(tmp, b"main.other", 5)), str(heap_file(tmp, name, 500))]


def goroutines_args(name: bytes, tmp: Path) -> list[str]:
    return ["goroutines", str(dump_file(tmp, name))]


def goroutine_profile_args(name: bytes, tmp: Path) -> list[str]:
    b = Builder([("goroutine", "count")])
    b.function(1, name).location(1, [1]).sample([1], [3])
    path = tmp / "goroutine.pb"
    path.write_bytes(b.build())
    return ["goroutines", str(path)]


r_top = via_cli(top_args)
r_top_json = via_cli(lambda n, t: [*top_args(n, t), "--json"])
r_top_rich = via_cli(top_args, tty=True)
r_diff = via_cli(diff_args)
r_diff_json = via_cli(lambda n, t: [*diff_args(n, t), "--json"])
r_goroutines = via_cli(goroutines_args)
r_goroutines_json = via_cli(lambda n, t: [*goroutines_args(n, t), "--json"])
r_goroutines_rich = via_cli(goroutines_args, tty=True)
r_goroutines_profile = via_cli(goroutine_profile_args)


def r_maps(name: bytes, tmp: Path, capsys: pytest.CaptureFixture[str],
           mp: pytest.MonkeyPatch) -> str:
    return render_inspection(map_inspection(as_str(name)))


def r_maps_json(name: bytes, tmp: Path, capsys: pytest.CaptureFixture[str],
                mp: pytest.MonkeyPatch) -> str:
    return json.dumps(map_inspection(as_str(name)).to_json_dict(), indent=2)


def r_classify(name: bytes, tmp: Path, capsys: pytest.CaptureFixture[str],
               mp: pytest.MonkeyPatch) -> str:
    s = as_str(name)
    rows = [SiteKind(site=s, kind="map", inuse_bytes=4096, alloc_bytes=8192, samples=2,
                     markers=(s,))]
    return render_classification(rows, s, s)


TEXT: dict[str, Renderer] = {
    "diagnosis-text": r_text, "top-text": r_top, "diff-text": r_diff,
    "goroutines-text": r_goroutines, "goroutines-profile-text": r_goroutines_profile,
    "maps-text": r_maps, "classify-text": r_classify,
}
COLOUR: dict[str, Renderer] = {
    "diagnosis-colour": r_text_colour, "top-rich": r_top_rich,
    "goroutines-rich": r_goroutines_rich,
}
JSON: dict[str, Renderer] = {
    "diagnosis-json": r_json, "top-json": r_top_json, "diff-json": r_diff_json,
    "goroutines-json": r_goroutines_json, "maps-json": r_maps_json,
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.parametrize("renderer", sorted(TEXT))
def test_text_renderers_print_only_printable(renderer: str, case: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    out = TEXT[renderer](HOSTILE[case], tmp_path, capsys, monkeypatch)
    assert_safe_text(out)
    if case == "script":  # a printable name is shown as it is
        assert "</script><script>alert(1)</script>" in out
    if case == "ansi":  # the escape is shown, visibly, not obeyed
        assert "main.evil" in out


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.parametrize("renderer", sorted(COLOUR))
def test_colour_renderers_emit_only_their_own_escapes(renderer: str, case: str,
                                                      tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    out = COLOUR[renderer](HOSTILE[case], tmp_path, capsys, monkeypatch)
    assert "\x1b[" in out, "colour mode was not used"
    assert_safe_text(out, colour=True)
    if renderer == "diagnosis-colour":  # rich fits the panels to the width it was given
        assert max(len(RICH_SGR.sub("", ln)) for ln in out.splitlines()) <= 100


@pytest.mark.parametrize("case", sorted(HOSTILE))
@pytest.mark.parametrize("renderer", sorted(JSON))
def test_json_renderers_escape_and_keep_names(renderer: str, case: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    out = JSON[renderer](HOSTILE[case], tmp_path, capsys, monkeypatch)
    doc = assert_safe_json(out)
    text = json.dumps(doc)
    if case != "non-utf8" and renderer.startswith(("diagnosis", "maps")):
        # handed over as str, the name comes back exactly
        assert json.dumps(as_str(HOSTILE[case])) in text
    if case == "script":
        assert "alert(1)" in text


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_html_report_and_flame_page(case: str, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    name = as_str(HOSTILE[case])
    flame = build_flame(make_profile([(["main.main", name], 100), (["main.main", "ok"], 1)]))
    pages = [render_html(diagnosis_with(name), flame=flame)]
    out = tmp_path / "flame.html"
    cli_out(capsys, "flame", str(heap_file(tmp_path, HOSTILE[case])), "--html", str(out))
    pages.append(out.read_text(encoding="utf-8"))
    for page in pages:
        assert len(re.findall(r"<script\b", page, re.I)) == len(re.findall(r"</script", page,
                                                                             re.I))
        assert "<script>alert(1)" not in page
        page.encode("utf-8")


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_collect_progress_shows_hostile_errors_as_text(case: str, tmp_path: Path) -> None:
    from leaksleuth.collect.collector import TickResult
    from leaksleuth.report.progress import CollectProgress

    name = as_str(HOSTILE[case])[:40] + "[/yellow][bold red]FAKE"
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=200)
    with CollectProgress(f"http://h:1/[red]{name}", 1, console) as p:
        p.update(TickResult(seq=0, time=0.0, status="failed", saved=(), errors=(name,),
                            heap_floor=None, goroutine_total=None, num_gc=None,
                            session_path=tmp_path, planned=1, done=1))
    out = buf.getvalue()
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)  # rich's own cursor and colour codes
    assert not UNSAFE.search(plain.replace("\r", "")), "unsafe characters in the progress line"
    assert "[/yellow][bold red]FAKE" in plain and "/[red]" in plain  # shown, not obeyed


# --- empty inputs ------------------------------------------------------------------------------


def empty_diagnosis() -> Diagnosis:
    return Diagnosis(target="", window=Window(0.0, 0.0, 0, 0), verdict="inconclusive",
                     summary="", heap=HeapSeries((), (), (), (), (), (), (), 0.0),
                     goroutines=GoroutineSeries((), ()), suspects=())


def test_empty_diagnosis_renders_everywhere() -> None:
    d = empty_diagnosis()
    assert "INCONCLUSIVE" in to_text(d) and "INCONCLUSIVE" in to_text(d, color=True)
    assert json.loads(to_json(d))["verdict"] == "inconclusive"
    assert "inconclusive" in render_html(d)


def test_empty_profiles_render_everywhere(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    b = Builder([("inuse_space", "bytes")])
    empty = tmp_path / "empty.pb"
    empty.write_bytes(b.build())
    assert "Showing nodes accounting for 0, 0% of 0 total" in cli_out(capsys, "top", str(empty))
    assert json.loads(cli_out(capsys, "top", str(empty), "--json"))["rows"] == []
    assert json.loads(cli_out(capsys, "diff", str(empty), str(empty), "--json"))["rows"] == []
    g = Builder([("goroutine", "count")])
    gempty = tmp_path / "goroutine.pb"
    gempty.write_bytes(g.build())
    assert cli_out(capsys, "goroutines", str(gempty)).startswith("0 goroutines in 0 groups")
    assert json.loads(cli_out(capsys, "goroutines", str(gempty), "--json"))["total"] == 0
    buf = io.StringIO()
    Console(file=buf, force_terminal=True, width=100).print(
        gt.goroutines_table([], "empty", detail="full"))
    assert "0 goroutines in 0 groups" in buf.getvalue()
    page = tmp_path / "flame.html"
    cli_out(capsys, "flame", str(empty), "--html", str(page))
    assert page.stat().st_size > 0
    assert "no maps found" in render_inspection(dataclasses.replace(
        map_inspection("main.m"), maps=()))
    assert "no samples" in render_classification([], "src", "exe")
