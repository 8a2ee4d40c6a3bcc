"""``watch`` end to end on real parts: Debian's Prometheus scraping real Go services (our
promsvc and Debian's Pushgateway), Debian's Alertmanager receiving the alerts.

A healthy fleet raises nothing; then one service starts leaking slowly: screening flags it and
it is diagnosed, below every alert level, so nothing is kept; then its leak speeds up and only
it is alerted, at warning and then at critical, and its evidence is captured as soon as the
level is reached (not one flagged cooldown after that first diagnosis); the bundle opens as a
report; the user's own alert routed by Alertmanager to our webhook receiver captures evidence
too; ``/metrics`` parses with the Prometheus text parser.
"""

from __future__ import annotations

import html.parser
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from leaksleuth.watch.alerts import highest
from leaksleuth.watch.config import load_config
from leaksleuth.watch.runner import Watcher
from support.alertmanager import null_config, run_alertmanager, run_pushgateway
from support.goservice import TESTS_DIR, build_or_skip, run_go
from support.promserver import free_port, prometheus_or_skip, run_prometheus

pytestmark = [pytest.mark.slow, pytest.mark.go]

SLOW_LEAK_BYTES_PER_S = 150_000  # flagged by screening, below the warning's 256 KiB/s
LEAK_BYTES_PER_S = 1_500_000


def wait_for(what: str, fn: Callable[[], Any], timeout: float, every: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


class _Text(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.title = ""
        self._in_title = False
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        self.text.append(data)


def write_config(tmp: Path, prom_url: str, am_url: str, listen: str) -> Path:
    cfg = tmp / "watch.toml"
    cfg.write_text(f"""
[prometheus]
url = "{prom_url}"
selector = '{{job="fleet"}}'

[schedule]
screen_every = "2s"
window = "40s"
step = "2s"
diagnose_every = "off"
diagnosis_duration = "8s"
diagnosis_interval = "1s"
backoff_min = "2s"

[alerts]
for = "4s"
clear_for = "1m"
resend_every = "2s"
[alerts.warning]
growth_bytes_per_second = "256KiB"
confidence = 0.3
[alerts.critical]
time_to_exhaustion = "10m"
confidence = 0.7
[alerts.alertmanager]
url = "{am_url}"

[evidence]
dir = "evidence"
max_bytes = "500MiB"

[state]
path = "state.sqlite"

[server]
listen = "{listen}"
""")
    return cfg


@pytest.fixture
def promsvc() -> Path:
    return build_or_skip(TESTS_DIR / "goprogs" / "promsvc", "1.26.6")


@pytest.fixture
def watcher_thread() -> Iterator[Callable[[Watcher], None]]:
    started: list[tuple[Watcher, threading.Thread]] = []

    def start(w: Watcher) -> None:
        t = threading.Thread(target=w.run, daemon=True)
        t.start()
        started.append((w, t))

    yield start
    for w, t in started:
        w.stop_event.set()
        t.join(timeout=90)


def test_watch_fleet_finds_the_leak_alerts_and_captures(
        tmp_path: Path, promsvc: Path, watcher_thread: Callable[[Watcher], None]) -> None:
    prometheus_or_skip()
    with ExitStack() as stack:
        healthy = [stack.enter_context(run_go(promsvc, "-garbage", "8000000")) for _ in range(2)]
        pushgw = stack.enter_context(run_pushgateway())
        jobs: dict[str, list[tuple[str, dict[str, str]]]] = {
            "fleet": [(s.addr, {}) for s in healthy] + [(pushgw, {})]}
        prom = stack.enter_context(run_prometheus(jobs, scrape_interval="1s"))
        prom.wait_targets_up(3)
        listen = f"127.0.0.1:{free_port()}"
        am = stack.enter_context(run_alertmanager(null_config(f"http://{listen}/alertmanager")))
        w = Watcher(load_config(write_config(tmp_path, prom.url, am.url, listen)))
        watcher_thread(w)

        # --- a healthy fleet raises nothing --------------------------------------------------
        time.sleep(45)  # longer than the window: every target fully screened
        names = sorted(w.targets)
        assert len(names) == 3, names
        assert am.alerts(alertname="GoMemoryLeak") == []
        assert not w.bundles
        flagged = {n: r.status for n, r in w.last_results.items()
                   if r.status in ("leak-suspect", "growing")}
        assert flagged == {}

        # --- one service starts leaking slowly: flagged and diagnosed, no alert level -------
        leaker = stack.enter_context(run_go(
            promsvc, "-garbage", "8000000", "-leak", str(SLOW_LEAK_BYTES_PER_S),
            env={"GOMEMLIMIT": "256MiB"}))
        prom.set_jobs({"fleet": [*jobs["fleet"], (leaker.addr, {})]})
        leak_name = f"fleet/{leaker.addr}"

        def diagnosed_below_the_levels() -> bool:
            rec = w.records.get(leak_name)
            return rec is not None and rec.verdict is not None

        wait_for("the flagged diagnosis of the slow leaker", diagnosed_below_the_levels, 150)
        states = w.alerts.get(leak_name, {})
        assert highest(states) is None and highest(states, "pending") is None, states
        assert not [b for b in list(w.bundles.values()) if b.target == leak_name]

        # --- its leak speeds up: the flagged cooldown must not hold the capture back ----------
        r = httpx.post(f"{leaker.url}/admin/leak", params={"rate": LEAK_BYTES_PER_S}, timeout=10)
        assert r.status_code == 200, r.text
        t0, t0_wall = time.monotonic(), time.time()
        warn = wait_for("the warning alert in Alertmanager",
                        lambda: am.alerts(alertname="GoMemoryLeak", severity="warning"), 150)
        t_warn = time.monotonic() - t0
        crit = wait_for("the critical alert in Alertmanager",
                        lambda: am.alerts(alertname="GoMemoryLeak", severity="critical"), 150)
        t_crit = time.monotonic() - t0
        print(f"warning after {t_warn:.0f}s, critical after {t_crit:.0f}s")
        assert t_warn <= t_crit
        for a in warn + crit:
            assert a["labels"]["target"] == leak_name
            assert a["labels"]["instance"] == leaker.addr
            assert a["labels"]["verdict"]
            assert "leaking memory" in a["annotations"]["summary"]
        # only the leaker, ever
        assert {a["labels"]["target"] for a in am.alerts(alertname="GoMemoryLeak")} == {leak_name}

        # --- its evidence bundle is on disk and opens as a report -----------------------------
        bundle = wait_for("the evidence bundle",
                          lambda: [b for b in list(w.bundles.values())
                                   if b.target == leak_name], 90)[0]
        rec = w.records[leak_name]
        assert rec.episode_since is not None and rec.bundle_kept_at is not None
        print(f"after the speed-up: capture ({bundle.trigger}) started at "
              f"{bundle.created - t0_wall:.1f}s, kept at {rec.bundle_kept_at - t0_wall:.1f}s, "
              f"seen at {time.monotonic() - t0:.1f}s; alert episode since "
              f"{rec.episode_since - t0_wall:.1f}s")
        # a capture the alert level started, not the flagged cooldown's next diagnosis
        assert bundle.trigger in ("warning", "critical")
        manifest = json.loads((bundle.path / "bundle.json").read_text())
        assert manifest["target"] == leak_name and manifest["verdict"] == "leak"
        diag = json.loads((bundle.path / "diagnosis.json").read_text())
        assert diag["schema"] == "leaksleuth.diagnosis/1" and diag["verdict"] == "leak"
        sessions = list((bundle.path / "session").iterdir())
        assert len(sessions) == 1 and (sessions[0] / "index.sqlite").is_file()
        assert any(p.name.startswith("heap") for p in sessions[0].rglob("*"))
        page = _Text()
        page.feed((bundle.path / "report.html").read_text())
        assert "leak" in page.title and leaker.addr in page.title

        # the alert links to it, and the link serves the report
        def linked() -> str | None:
            for a in am.alerts(alertname="GoMemoryLeak", severity="critical"):
                if bundle.id in a["annotations"].get("evidence", ""):
                    return str(a["annotations"]["evidence"])
            return None

        link = wait_for("the evidence link in the alert", linked, 30)
        r = httpx.get(link, timeout=10)
        assert r.status_code == 200 and "<html" in r.text[:500].lower()
        assert "suspect" in wait_for("the suspect annotation", lambda: am.alerts(
            alertname="GoMemoryLeak", severity="critical")[0]["annotations"], 30)

        # --- the user's own alert, routed to our receiver, captures its target too ------------
        other = healthy[0]
        am.post([{"labels": {"alertname": "ContainerMemoryHigh", "instance": other.addr,
                             "job": "fleet"},
                  "annotations": {"summary": "memory above 80% of the limit"}}])
        other_name = f"fleet/{other.addr}"
        captured = wait_for("the capture the webhook asked for", lambda: [
            b for b in list(w.bundles.values())
            if b.target == other_name and b.trigger == "alertmanager"], 90)
        assert (captured[0].path / "report.html").is_file()

        # --- our /metrics parses, and says what happened ---------------------------------------
        text = httpx.get(f"http://{listen}/metrics", timeout=10).text
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for fam in text_string_to_metric_families(text) for s in fam.samples}
        assert samples[("leaksleuth_alert_level", (("target", leak_name),))] == 2
        assert samples[("leaksleuth_alert_level", (("target", other_name),))] == 0
        assert samples[("leaksleuth_verdict", (("target", leak_name), ("verdict", "leak")))] == 1
        assert samples[("leaksleuth_screens_total", ())] >= 10
        assert samples[("leaksleuth_growth_bytes_per_second", (("target", leak_name),))] > \
            LEAK_BYTES_PER_S / 3
        assert samples[("leaksleuth_targets", ())] == 4
        assert samples[("leaksleuth_evidence_bundles", ())] >= 2
        assert samples[("leaksleuth_leak_confidence", (("target", leak_name),))] >= 0.7
