"""``watch`` pieces on small hand-made inputs: evidence bundles (atomic publish, recovery,
retention), the notifier payloads, the webhook receiver, the state file, and the runner's
bookkeeping (backoff, isolation of a failing target, resume after a restart) with fakes for
Prometheus, the clock and the diagnosis. The real parts run in test_watch_fleet/soak."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from leaksleuth.analyze.diagnosis import Diagnosis, GoroutineSeries, HeapSeries, Suspect, Window
from leaksleuth.watch.alerts import LevelState
from leaksleuth.watch.config import EvidenceConfig, parse_config
from leaksleuth.watch.evidence import DiagnosisOutcome, EvidenceStore
from leaksleuth.watch.notify import (
    AlertmanagerNotifier,
    AlertMessage,
    NotifyError,
    WebhookNotifier,
    alertmanager_payload,
)
from leaksleuth.watch.receiver import WatchServer, firing_label_sets
from leaksleuth.watch.runner import Watcher
from leaksleuth.watch.state import BundleRow, StateStore, TargetRecord
from leaksleuth.watch.targets import Target
from support.fakes import StepClock

# --- evidence ---------------------------------------------------------------------------------


def _stage(store: EvidenceStore, name: str, now: float, size: int = 1000) -> Path:
    st = store.stage(name, now)
    (st / "session" / "s1").mkdir(parents=True)
    (st / "session" / "s1" / "index.sqlite").write_bytes(b"x" * size)
    (st / "report.html").write_text("<html></html>")
    return st


def test_publish_is_all_or_nothing_and_recover_cleans(tmp_path: Path) -> None:
    store = EvidenceStore(EvidenceConfig(tmp_path / "ev"))
    st = _stage(store, "a", 1000.0)
    assert store.scan() == []  # staged is invisible
    b = store.publish(st, target="a", created=1000.0, trigger="warning", diagnosis=None,
                      session_dir=st / "session" / "s1")
    assert not st.exists() and b.path.is_dir()
    manifest = json.loads((b.path / "bundle.json").read_text())
    assert manifest["session"] == "session/s1" and manifest["report"] == "report.html"
    # a build interrupted by kill -9 leaves only staging, which recovery removes
    half = _stage(store, "b", 1001.0)
    store2 = EvidenceStore(EvidenceConfig(tmp_path / "ev"))
    found = store2.recover()
    assert [x.id for x in found] == [b.id]
    assert not half.exists()


def test_retention_oldest_first_never_pinned(tmp_path: Path) -> None:
    store = EvidenceStore(EvidenceConfig(tmp_path / "ev"))
    bundles = []
    for i in range(5):
        st = _stage(store, f"t{i}", 1000.0 + i)
        bundles.append(store.publish(st, target=f"t{i}", created=1000.0 + i, trigger="w",
                                     diagnosis=None, session_dir=None))
    # room for three bundles of the five
    store.cfg = EvidenceConfig(store.root, max_bytes=sum(b.bytes for b in bundles[2:]),
                               retention=10_000)
    pinned = {bundles[0].id}
    removed = store.enforce(bundles, pinned, now=1010.0)
    left = {b.id for b in store.scan()}
    assert bundles[0].id in left  # oldest, but pinned by a firing alert
    assert removed == [bundles[1].id, bundles[2].id]
    assert left == {bundles[0].id, bundles[3].id, bundles[4].id}
    # age: everything past retention goes, except the pinned one
    removed = store.enforce(store.scan(), pinned, now=1000.0 + 20_000)
    assert {b.id for b in store.scan()} == {bundles[0].id}


# --- notify -------------------------------------------------------------------------------------


class _Sink:
    """A local HTTP server recording POST bodies, answering ``status``."""

    def __init__(self, status: int = 200) -> None:
        bodies: list[Any] = []
        self.bodies = bodies

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:
                n = int(self.headers["Content-Length"])
                bodies.append((self.path, json.loads(self.rfile.read(n))))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"

    def close(self) -> None:
        self.srv.shutdown()
        self.srv.server_close()


MSG = AlertMessage({"alertname": "GoMemoryLeak", "severity": "warning", "target": "a"},
                   {"summary": "a leaks"}, 1_800_000_000.0, 1_800_000_300.0, "http://x/e")


def test_alertmanager_payload_shape() -> None:
    [item] = alertmanager_payload([MSG])
    assert item["startsAt"] == "2027-01-15T08:00:00.000000Z"
    assert item["endsAt"] == "2027-01-15T08:05:00.000000Z"
    assert item["generatorURL"] == "http://x/e" and item["labels"]["severity"] == "warning"


def test_notifiers_post_and_report_failures() -> None:
    ok, bad = _Sink(), _Sink(status=500)
    try:
        AlertmanagerNotifier(ok.url).send([MSG])
        WebhookNotifier(ok.url + "/hook", 5.0, None).send([MSG])
        assert ok.bodies[0][0] == "/api/v2/alerts" and ok.bodies[0][1][0]["labels"]["target"] \
            == "a"
        assert ok.bodies[1][0] == "/hook" and ok.bodies[1][1]["schema"] == "leaksleuth.alert/1"
        with pytest.raises(NotifyError, match="HTTP 500"):
            AlertmanagerNotifier(bad.url).send([MSG])
        with pytest.raises(NotifyError, match=r"unreachable|Connect"):
            AlertmanagerNotifier("http://127.0.0.1:1").send([MSG])
    finally:
        ok.close()
        bad.close()


# --- receiver -----------------------------------------------------------------------------------


def test_firing_label_sets() -> None:
    doc = {"commonLabels": {"job": "api"}, "alerts": [
        {"status": "firing", "labels": {"alertname": "Mem", "instance": "h:1"}},
        {"status": "resolved", "labels": {"alertname": "Mem", "instance": "h:2"}}]}
    assert firing_label_sets(doc) == [{"job": "api", "alertname": "Mem", "instance": "h:1"}]
    with pytest.raises(ValueError):
        firing_label_sets({"nope": 1})


def test_receiver_http(tmp_path: Path) -> None:
    (tmp_path / "b1").mkdir()
    (tmp_path / "b1" / "report.html").write_text("<html>ok</html>")
    (tmp_path / ".incoming").mkdir()
    (tmp_path / ".incoming" / "x.html").write_text("secret")
    got: list[dict[str, str]] = []

    def on_alert(labels: dict[str, str]) -> str | None:
        got.append(labels)
        return "api/h:1" if labels.get("instance") == "h:1" else None

    srv = WatchServer("127.0.0.1:0", metrics=lambda: b"m 1\n", on_alert=on_alert,
                      evidence_root=tmp_path)
    base = f"http://{srv.address}"
    try:
        assert httpx.get(f"{base}/metrics").text == "m 1\n"
        r = httpx.post(f"{base}/alertmanager", json={"alerts": [
            {"status": "firing", "labels": {"instance": "h:1"}},
            {"status": "firing", "labels": {"instance": "h:9"}}]})
        assert r.json() == {"captures": ["api/h:1"]} and len(got) == 2
        assert httpx.post(f"{base}/alertmanager", content=b"{not json").status_code == 400
        assert httpx.get(f"{base}/evidence/b1/report.html").text == "<html>ok</html>"
        assert httpx.get(f"{base}/evidence/.incoming/x.html").status_code == 404
        assert httpx.get(f"{base}/evidence/..%2F..%2Fetc%2Fpasswd").status_code == 404
    finally:
        srv.close()


# --- state ----------------------------------------------------------------------------------------


def test_state_round_trip(tmp_path: Path) -> None:
    s = StateStore(tmp_path / "st.sqlite")
    s.save_targets([TargetRecord("a", failures=2, next_attempt=5.0, verdict="leak")])
    s.save_alerts([("a", "warning", LevelState("firing", 1.0, 2.0, None, 3.0), {"x": "y"})])
    s.add_bundle(BundleRow("b1", "a", 1.0, 10, "leak", "warning"))
    s.close()
    s = StateStore(tmp_path / "st.sqlite")
    assert s.targets()["a"].failures == 2 and s.targets()["a"].verdict == "leak"
    st, labels = s.alerts()["a"]["warning"]
    assert st == LevelState("firing", 1.0, 2.0, None, 3.0) and labels == {"x": "y"}
    assert [b.id for b in s.bundles()] == ["b1"]
    s.close()


# --- runner with fakes ----------------------------------------------------------------------------


@dataclass
class FakeResult:
    target: Target
    status: str
    live_heap_growth_bytes_per_second: float
    confidence: float
    goroutine_growth_per_second: float = 0.0
    time_to_exhaustion_seconds: float | None = None
    heap_bytes_last: float = 1e6
    rss_bytes_last: float | None = None
    goroutines_last: float | None = 10.0
    limit_bytes: float | None = None
    reasons: tuple[str, ...] = ()


class RecordingNotifier:
    def __init__(self) -> None:
        self.sent: list[AlertMessage] = []
        self.fail = False

    def send(self, alerts: list[AlertMessage]) -> None:
        if self.fail:
            raise NotifyError("down")
        self.sent.extend(alerts)


def _cfg(tmp: Path) -> Any:
    return parse_config({
        "prometheus": {"url": "http://127.0.0.1:1"},
        "schedule": {"screen_every": "10s", "window": "60s", "step": "5s",
                     "diagnose_flagged_every": "1m", "diagnose_every": "off",
                     "diagnosis_duration": "3s", "diagnosis_interval": "1s",
                     "backoff_min": "30s", "backoff_max": "2m"},
        "alerts": {"for": "20s", "clear_for": "20s", "resend_every": "30s",
                   "warning": {"growth_bytes_per_second": 1000, "confidence": 0.5},
                   "critical": {"growth_bytes_per_second": 100000, "confidence": 0.5}},
        "evidence": {"dir": "ev"}, "state": {"path": "st.sqlite"},
    }, base=tmp)


class Fleet:
    """Fake layer 1 (screen and discover) and layer 2 (diagnose) for three targets."""

    def __init__(self) -> None:
        self.targets = [Target(f"job/h:{i}", f"http://127.0.0.1:{i}/debug/pprof",
                               labels={"job": "job", "instance": f"h:{i}"}) for i in (1, 2, 3)]
        self.growth = {"job/h:1": 5000.0, "job/h:2": 0.0, "job/h:3": 0.0}
        self.broken: set[str] = set()
        self.calls: list[str] = []

    def discover(self, api: Any, selector: Any, template: Any) -> list[Target]:
        return list(self.targets)

    def screen(self, api: Any, targets: list[Target], **kw: Any) -> list[FakeResult]:
        return [FakeResult(t, "leak-suspect" if self.growth[t.name] > 0 else "ok",
                           self.growth[t.name], 0.9 if self.growth[t.name] > 0 else 0.0)
                for t in targets]

    def diagnose(self, staging: Path, *, target: str, **kw: Any) -> DiagnosisOutcome:
        self.calls.append(target)
        if target in self.broken:
            return DiagnosisOutcome(target, 0.0, staging, None, None, "refused", "collect")
        (staging / "session" / "s").mkdir(parents=True)
        (staging / "session" / "s" / "index.sqlite").write_bytes(b"db")
        return DiagnosisOutcome(target, 1_800_000_000.0, staging, staging / "session" / "s",
                                _diagnosis(target))


def _diagnosis(target: str) -> Diagnosis:
    heap = HeapSeries((0.0, 1.0), (100, 200), (100, 200), (200, 400), (1, 2), (1, 2), (0, 0),
                      100.0, 0.001)
    suspect = Suspect(1, "unbounded-map", "main.(*Store).Put", ("main.(*Store).Put",), 100.0,
                      200, 0.9, ("grew",), "bound it")
    return Diagnosis(target, Window(0.0, 1.0, 2, 1), "leak", "leaks", heap,
                     GoroutineSeries((0.0, 1.0), (5, 5)), (suspect,))


def _watcher(tmp: Path, fleet: Fleet, clock: StepClock, notifier: RecordingNotifier) -> Watcher:
    return Watcher(_cfg(tmp), clock=clock, notifier=notifier, screen_fn=fleet.screen,
                   discover_fn=fleet.discover, diagnose_fn=fleet.diagnose, prom_api=object(),
                   serve=False)


def _rounds(w: Watcher, clock: StepClock, n: int) -> None:
    for _ in range(n):
        w.run_once()
        clock.t += 10


def test_runner_alerts_captures_and_resumes(tmp_path: Path) -> None:
    fleet, clock, notes = Fleet(), StepClock(), RecordingNotifier()
    fleet.broken.add("job/h:1")  # its pprof refuses: backoff, and the others go on
    w = _watcher(tmp_path, fleet, clock, notes)
    _rounds(w, clock, 4)
    assert w.alerts["job/h:1"]["warning"].state == "firing"
    assert w.alerts["job/h:2"]["warning"].state == "inactive"
    firing = [m for m in notes.sent if m.status == "firing"]
    assert firing and {m.labels["target"] for m in firing} == {"job/h:1"}
    t0 = clock.t - 40
    rec = w.records["job/h:1"]
    assert (rec.failures, rec.last_error, rec.next_attempt) == (1, "refused", t0 + 30)
    assert fleet.calls.count("job/h:2") == 0  # healthy, and no slow schedule: left alone
    _rounds(w, clock, 3)  # t0+40 .. t0+60: retried once the flagged cooldown (1m) passed
    assert (rec.failures, rec.next_attempt) == (2, t0 + 60 + 60)  # backoff doubled
    tries = fleet.calls.count("job/h:1")
    _rounds(w, clock, 4)  # t0+70 .. t0+100: still backing off
    assert fleet.calls.count("job/h:1") == tries
    # it comes back: the next diagnosis after the backoff captures evidence
    fleet.broken.clear()
    _rounds(w, clock, 3)
    assert w.records["job/h:1"].failures == 0
    assert [b.target for b in w.bundles.values()] == ["job/h:1"]
    # the metrics parse and say so
    fams = {f.name: f for f in text_string_to_metric_families(w.metrics.exposition().decode())}
    levels = {s.labels["target"]: s.value for s in fams["leaksleuth_alert_level"].samples}
    assert levels == {"job/h:1": 1.0, "job/h:2": 0.0, "job/h:3": 0.0}
    errors = {s.labels["kind"]: s.value for s in fams["leaksleuth_errors"].samples
              if s.name.endswith("_total")}
    assert errors["collect"] >= 1
    started = w.alerts["job/h:1"]["warning"].active_at
    w.close()

    # a restarted watcher resumes: still firing, same start, evidence known
    notes2 = RecordingNotifier()
    w2 = _watcher(tmp_path, fleet, clock, notes2)
    assert w2.alerts["job/h:1"]["warning"].state == "firing"
    assert len(w2.bundles) == 1
    clock.t += 60
    w2.run_once()
    sent = [m for m in notes2.sent if m.status == "firing"]
    assert sent and sent[0].starts_at == started
    # the leak stops: resolved after the clear hold, sent with endsAt = now
    fleet.growth["job/h:1"] = 0.0
    _rounds(w2, clock, 4)
    assert w2.alerts["job/h:1"]["warning"].state == "inactive"
    resolved = [m for m in notes2.sent if m.status == "resolved"]
    assert resolved and resolved[-1].labels["target"] == "job/h:1"
    w2.close()


def test_notify_failure_is_retried(tmp_path: Path) -> None:
    fleet, clock, notes = Fleet(), StepClock(), RecordingNotifier()
    notes.fail = True
    w = _watcher(tmp_path, fleet, clock, notes)
    _rounds(w, clock, 4)
    assert notes.sent == [] and w.alerts["job/h:1"]["warning"].state == "firing"
    notes.fail = False
    w.poll()
    assert [m.labels["target"] for m in notes.sent] == ["job/h:1"]
    w.close()


def test_webhook_capture_request_matches_instance(tmp_path: Path) -> None:
    fleet, clock, notes = Fleet(), StepClock(), RecordingNotifier()
    fleet.growth["job/h:1"] = 0.0
    w = _watcher(tmp_path, fleet, clock, notes)
    w.run_once()
    assert w.request_capture({"alertname": "Mem", "instance": "h:2"}) == "job/h:2"
    assert w.request_capture({"alertname": "Mem", "instance": "elsewhere:1"}) is None
    w.run_once()
    assert [b.trigger for b in w.bundles.values()] == ["alertmanager"]
    w.close()


def test_collect_stopped_before_its_first_tick_is_an_error_not_a_crash(tmp_path: Path) -> None:
    from leaksleuth.collect.collector import CollectConfig, collect
    from leaksleuth.errors import CollectError

    stop = threading.Event()
    stop.set()
    with pytest.raises(CollectError, match="stopped before the first snapshot"):
        collect(CollectConfig(url="http://127.0.0.1:1/debug/pprof", count=3, out_dir=tmp_path),
                stop=stop)


def test_diagnosis_refused_while_stopping(tmp_path: Path) -> None:
    from leaksleuth.watch.evidence import diagnose_into

    stop = threading.Event()
    stop.set()
    out = diagnose_into(tmp_path, target="a", pprof_url="http://127.0.0.1:1/debug/pprof",
                        schedule=_cfg(tmp_path).schedule, pid=None, stop=stop)
    assert out.error_kind == "stopped" and out.session_dir is None


def test_diagnosis_slots_most_urgent_first(tmp_path: Path) -> None:
    """One slot: the flagged target goes first, then a requested capture, then the slow
    schedule; nothing queues behind the running session."""
    import time

    fleet, clock, notes = Fleet(), StepClock(), RecordingNotifier()
    doc = {"prometheus": {"url": "http://127.0.0.1:1"},
           "schedule": {"screen_every": "10s", "window": "60s", "step": "5s",
                        "diagnose_every": "1m", "concurrency": 1,
                        "diagnosis_duration": "3s", "diagnosis_interval": "1s"},
           "evidence": {"dir": "ev"}, "state": {"path": "st.sqlite"}}
    w = Watcher(parse_config(doc, base=tmp_path), clock=clock, notifier=notes,
                screen_fn=fleet.screen, discover_fn=fleet.discover, diagnose_fn=fleet.diagnose,
                prom_api=object(), serve=False)
    try:
        assert w.run_round().diagnoses_started == ["job/h:1"]
        assert w.request_capture({"instance": "h:3"}) == "job/h:3"
        started: list[str] = []
        deadline = time.monotonic() + 10
        while len(started) < 2 and time.monotonic() < deadline:
            started += w.poll().diagnoses_started
            time.sleep(0.05)
        assert started == ["job/h:3", "job/h:2"]
        assert len(w._jobs) <= 1
    finally:
        w.close()


def test_restored_alert_of_a_vanished_target_is_resolved(tmp_path: Path) -> None:
    fleet, clock, notes = Fleet(), StepClock(), RecordingNotifier()
    st = StateStore(tmp_path / "st.sqlite")
    labels = {"alertname": "GoMemoryLeak", "severity": "warning", "target": "job/h:9"}
    st.save_alerts([("job/h:9", "warning", LevelState("firing", 1.0, 1.0, None, 1.0), labels)])
    st.save_targets([TargetRecord("job/h:9")])
    st.close()
    fleet.growth["job/h:1"] = 0.0
    w = _watcher(tmp_path, fleet, clock, notes)
    assert w.alerts["job/h:9"]["warning"].state == "firing"
    w.run_once()
    assert "job/h:9" not in w.alerts and "job/h:9" not in w.records
    [msg] = notes.sent
    assert msg.status == "resolved" and msg.labels == labels and msg.ends_at == clock.t
    w.close()
    assert "job/h:9" not in StateStore(tmp_path / "st.sqlite").alerts()


def test_level_reached_after_a_discarded_diagnosis_captures_at_once(tmp_path: Path) -> None:
    """A flagged target whose diagnosis ended just before its alert level was reached (so it
    was discarded: no level yet) is captured in the round the level is reached, not one flagged
    cooldown later; once the episode has its bundle the cooldown applies again, and the next
    episode is captured at once too."""
    fleet, clock, notes = Fleet(), StepClock(), RecordingNotifier()
    name = "job/h:1"
    fleet.growth[name] = 500.0  # flagged by screening, below the warning threshold
    w = _watcher(tmp_path, fleet, clock, notes)
    try:
        _rounds(w, clock, 1)
        assert fleet.calls == [name] and not w.bundles  # diagnosed, nothing to keep
        fleet.growth[name] = 5000.0
        reached = clock.t
        report = w.run_once()
        assert (name, "warning", "pending") in report.events
        assert report.diagnoses_started == [name]  # not 1 min after the discarded one
        [first] = w.bundles.values()
        assert (first.target, first.trigger) == (name, "warning")
        assert w.records[name].last_bundle == first.id
        assert w.records[name].bundle_kept_at == reached
        clock.t += 10
        calls = len(fleet.calls)
        _rounds(w, clock, 2)  # fires; the episode has its bundle: no capture per round
        assert w.alerts[name]["warning"].state == "firing"
        assert len(fleet.calls) == calls and len(w.bundles) == 1

        # the leak stops and the alert resolves; growth again below the threshold is flagged
        # and diagnosed (discarded) on the cooldown; then the level is reached again
        fleet.growth[name] = 0.0
        _rounds(w, clock, 3)
        assert w.alerts[name]["warning"].state == "inactive"
        assert w.records[name].episode_since is None
        fleet.growth[name] = 500.0
        _rounds(w, clock, 1)
        assert len(fleet.calls) == calls + 1 and len(w.bundles) == 1
        fleet.growth[name] = 5000.0
        report = w.run_once()
        assert report.diagnoses_started == [name]
        assert len(w.bundles) == 2
        assert w.records[name].bundle_kept_at == clock.t
    finally:
        w.close()


def test_capture_that_cannot_be_written_waits_for_the_cooldown(tmp_path: Path) -> None:
    """The evidence directory refuses the bundle (disk full): the error is counted and the
    target is not diagnosed again every round for the capture it still lacks, only once the
    flagged cooldown has passed."""
    from leaksleuth.errors import StoreError

    fleet, clock, notes = Fleet(), StepClock(), RecordingNotifier()
    name = "job/h:1"
    w = _watcher(tmp_path, fleet, clock, notes)
    real_publish = w.evidence.publish

    def full(*a: Any, **kw: Any) -> Any:
        raise StoreError("no space left on device")

    w.evidence.publish = full  # type: ignore[method-assign]
    try:
        report = w.run_once()  # pending at once: captured, but nothing can be written
        assert report.diagnoses_started == [name] and not w.bundles
        assert any("no space left" in e for e in report.errors)
        clock.t += 10
        _rounds(w, clock, 5)  # t+10 .. t+50: within the 1 min cooldown
        assert fleet.calls == [name]
        w.evidence.publish = real_publish  # type: ignore[method-assign]
        _rounds(w, clock, 1)  # t+60: the cooldown has passed
        assert fleet.calls == [name, name] and len(w.bundles) == 1
    finally:
        w.close()
