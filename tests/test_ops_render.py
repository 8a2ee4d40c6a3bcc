"""report.tables: pprof's number formatting, the rich table and the JSON document."""

from __future__ import annotations

import io
import json

from leaksleuth.profile import summary
from leaksleuth.profile.pprof import parse_pprof
from leaksleuth.report import tables
from leaksleuth.units import go_duration, human_time, pprof_label
from pprofbuild import Builder


def test_durations_like_go() -> None:
    """time.Duration.String, which pprof prints on its Duration line."""
    assert go_duration(0) == "0s"
    assert go_duration(999) == "999ns"
    assert go_duration(1_500) == "1.5µs"
    assert go_duration(500_000_000) == "500ms"
    assert go_duration(1_500_000_000) == "1.5s"
    assert go_duration(90_000_000_000) == "1m30s"
    assert go_duration(3_600_000_000_000) == "1h0m0s"
    assert go_duration(-30_000_000_000) == "-30s"


def test_moments_are_utc_everywhere() -> None:
    """One spelling of a moment: the Time line of top, the text/HTML reports, the outage
    sentence (time of day) and the sessions table (its column says UTC)."""
    t = 1_767_225_909.9  # 2026-01-01 00:05:09.9 UTC
    assert human_time(t) == "2026-01-01 00:05:09 UTC"
    assert human_time(t, date=False) == "00:05:09 UTC"
    assert human_time(t, zone=False) == "2026-01-01 00:05:09"


def test_scaled_labels_like_pprof() -> None:
    assert pprof_label(0, "bytes", "minimum") == "0"
    assert pprof_label(1536, "bytes", "kB") == "1.50kB"
    assert pprof_label(2 << 20, "bytes", "MB") == "2MB"
    assert pprof_label(-983520, "bytes", "kB") == "-960.47kB"
    assert pprof_label(1234, "count", "count") == "1234"
    assert pprof_label(1500, "nanoseconds", "minimum") == "1.50us"
    assert tables.percentage(1, 3) == "33.33%"
    assert tables.percentage(-5, 10) == "50.00%"  # of the absolute value, as pprof
    assert tables.percentage(1, 20000) == "0.005%"
    assert tables.percentage(999, 1000) == "99.90%" and tables.percentage(9999, 10000) == "  100%"


def _result(diff: bool = False) -> summary.TopResult:
    def prof(v: int) -> bytes:
        b = Builder([("inuse_space", "bytes")])
        b.function(1, "main.grow").function(2, "main.main").location(1, [1]).location(2, [2])
        return b.sample([1, 2], [v]).sample([2], [4096]).build()

    new = parse_pprof(prof(3 << 20), "n")
    return summary.diff_top(parse_pprof(prof(1 << 20), "b"), new) if diff else summary.top(new)


def test_plain_text_header_and_rows() -> None:
    text = tables.render_text(_result(), ["x.pb.gz"])
    lines = text.splitlines()
    assert lines[0] == "File: x.pb.gz" and lines[1] == "Type: inuse_space"
    # one unit for the table, from the smallest value x100 (pprof's selectOutputUnit)
    assert "Showing nodes accounting for 3076kB, 100% of 3076kB total" in text
    assert lines[-2].split() == ["3072kB", "99.87%", "99.87%", "3072kB", "99.87%", "main.grow"]


def test_rich_table_on_a_terminal_and_json() -> None:
    buf = io.StringIO()
    tables.render(_result(diff=True), buf, files=["a", "b"], diff=True, terminal=True)
    out = buf.getvalue()
    assert "main.grow" in out and "2MB" in out and "flat%" in out  # no 4 kB row: 2MB unit
    buf = io.StringIO()
    tables.render(_result(diff=True), buf, files=["a", "b"], as_json=True, diff=True)
    doc = json.loads(buf.getvalue())
    assert doc["schema"] == "leaksleuth.top/1" and doc["kind"] == "diff"
    assert doc["rows"][0] == {"function": "main.grow", "flat": 2 << 20, "flat_pct": 100.0,
                              "sum_pct": 100.0, "cum": 2 << 20, "cum_pct": 100.0,
                              "inline": ""}
