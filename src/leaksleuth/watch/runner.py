"""The long-running ``watch`` loop: screen the fleet, step the alerts, diagnose, capture, notify.

One thread owns all state; layer-2 diagnoses run in a small thread pool and hand their outcome
back; the HTTP server (metrics, webhook receiver, evidence) only reads metrics and queues
capture requests. The clock and sleeping come in through ``Clock`` so tests drive rounds by
hand. A target that fails is noted, backed off and retried; nothing one target does stops the
others, and a failing Prometheus or receiver is counted and retried on the next round.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from leaksleuth.errors import LeaksleuthError
from leaksleuth.units import human_duration, human_rate
from leaksleuth.watch.alerts import LevelState, Signal, evaluate, highest, level_number
from leaksleuth.watch.config import LEVELS, WatchConfig
from leaksleuth.watch.evidence import Bundle, DiagnosisOutcome, EvidenceStore, diagnose_into
from leaksleuth.watch.metrics import WatchMetrics
from leaksleuth.watch.notify import (
    AlertmanagerNotifier,
    AlertMessage,
    FanOut,
    Notifier,
    NotifyError,
    WebhookNotifier,
)
from leaksleuth.watch.state import BundleRow, StateStore, TargetRecord
from leaksleuth.watch.targets import Target

log = logging.getLogger("leaksleuth.watch")

FLAGGED = ("leak-suspect", "growing")


class Clock(Protocol):
    """Wall time, and a sleep that a stop event cuts short (returns True when stopped)."""

    def now(self) -> float: ...

    def sleep(self, seconds: float, stop: threading.Event) -> bool: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(max(0.0, seconds))


ScreenFn = Callable[..., Sequence[Any]]
DiscoverFn = Callable[..., Sequence[Target]]
DiagnoseFn = Callable[..., DiagnosisOutcome]


@dataclass
class _Job:
    target: str
    trigger: str  # "warning", "critical", "alertmanager", "flagged", "schedule"
    capture: bool
    staging: Path
    future: Future[DiagnosisOutcome] | None = None


@dataclass
class RoundReport:
    """What one round did (for ``--once`` and tests)."""

    screened: int = 0
    results: list[Any] = field(default_factory=list)
    events: list[tuple[str, str, str]] = field(default_factory=list)  # target, level, event
    diagnoses_started: list[str] = field(default_factory=list)
    bundles: list[Bundle] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def signal_from(result: Any, rec: TargetRecord, now: float, fresh: float) -> Signal | None:
    """The alert signal of one target: layer-1 figures, with a recent layer-2 verdict able to
    raise (never lower) the confidence; a short pprof window that sees no growth does not
    outweigh hours of history. ``None`` when nothing usable was measured."""
    diag_conf = None
    if rec.diagnosed_at is not None and now - rec.diagnosed_at <= fresh and rec.confidence:
        diag_conf = rec.confidence if rec.verdict in ("leak", "retention") else None
    if result is None or getattr(result, "status", "") == "insufficient-data":
        if diag_conf is None:
            return None
        return Signal(growth_bytes_per_second=rec.growth_bytes_per_second,
                      confidence=diag_conf)
    conf = float(getattr(result, "confidence", 0.0) or 0.0)
    if diag_conf is not None:
        conf = max(conf, diag_conf)
    return Signal(
        growth_bytes_per_second=_finite(getattr(result, "live_heap_growth_bytes_per_second",
                                                None)),
        time_to_exhaustion_seconds=_finite(getattr(result, "time_to_exhaustion_seconds", None)),
        goroutine_growth_per_second=_finite(getattr(result, "goroutine_growth_per_second",
                                                    None)),
        confidence=conf)


def _finite(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _name(result: Any) -> str:
    t = getattr(result, "target", None)
    return str(getattr(t, "name", t))


class Watcher:
    """Owns the watch state; ``run_round`` is one pass, ``run`` the loop."""

    def __init__(self, cfg: WatchConfig, *, clock: Clock | None = None,
                 notifier: Notifier | None = None, screen_fn: ScreenFn | None = None,
                 discover_fn: DiscoverFn | None = None, diagnose_fn: DiagnoseFn | None = None,
                 prom_api: Any = None, serve: bool = True) -> None:
        self.cfg = cfg
        self.clock = clock or SystemClock()
        self.metrics = WatchMetrics()
        self.state = StateStore(cfg.state_path)
        self.evidence = EvidenceStore(cfg.evidence)
        self._diagnose = diagnose_fn or diagnose_into
        self._screen_fn = screen_fn
        self._discover_fn = discover_fn
        self._prom = prom_api
        if notifier is None:
            receivers: dict[str, Notifier] = {}
            if cfg.alerts.alertmanager_url:
                receivers["alertmanager"] = AlertmanagerNotifier(cfg.alerts.alertmanager_url)
            if cfg.alerts.webhook_url:
                receivers["webhook"] = WebhookNotifier(cfg.alerts.webhook_url, 10.0, None)
            notifier = FanOut(receivers) if receivers else None
        self.notifier = notifier
        self.stop_event = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=cfg.schedule.concurrency,
                                        thread_name_prefix="watch-diagnose")
        self._jobs: dict[str, _Job] = {}
        self._wanted: dict[str, str] = {}  # captures asked for, waiting for a free slot
        self._requests: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        self.targets: dict[str, Target] = {}
        self.records: dict[str, TargetRecord] = self.state.targets()
        self.alerts: dict[str, dict[str, LevelState]] = {}
        self.sent_labels: dict[str, dict[str, dict[str, str]]] = {}
        for tname, levels in self.state.alerts().items():
            self.alerts[tname] = {lv: st for lv, (st, _) in levels.items()}
            self.sent_labels[tname] = {lv: lab for lv, (_, lab) in levels.items() if lab}
        self._resolved_unsent: list[AlertMessage] = []
        self.last_results: dict[str, Any] = {}
        self._next_screen = 0.0
        self.bundles: dict[str, Bundle] = {}
        self._reconcile_bundles()
        self.server = None
        if serve and cfg.listen:
            from leaksleuth.watch.receiver import WatchServer

            self.server = WatchServer(cfg.listen, metrics=self.metrics.exposition,
                                      on_alert=self.request_capture,
                                      evidence_root=self.evidence.root)
        self._set_static_targets()

    # --- setup ---------------------------------------------------------------------------

    def _reconcile_bundles(self) -> None:
        """The evidence directory is the truth: bundles published just before a crash are
        registered, rows whose directory is gone are dropped."""
        on_disk = {b.id: b for b in self.evidence.recover()}
        known = {b.id for b in self.state.bundles()}
        for b in on_disk.values():
            if b.id not in known:
                self.state.add_bundle(BundleRow(b.id, b.target, b.created, b.bytes, b.verdict,
                                                b.trigger))
        gone = [i for i in known if i not in on_disk]
        if gone:
            self.state.remove_bundles(gone)
        self.bundles = on_disk
        self._update_evidence_metrics()

    def _set_static_targets(self) -> None:
        for st in self.cfg.targets:
            self.targets[st.name] = Target(name=st.name, pprof_url=st.pprof_url, pid=st.pid,
                                           labels=dict(st.labels),
                                           memory_limit_bytes=st.memory_limit_bytes)

    @property
    def prom(self) -> Any:
        if self._prom is None and self.cfg.prometheus is not None:
            from leaksleuth.watch.prom import PromAPI

            self._prom = PromAPI(self.cfg.prometheus.url, timeout=self.cfg.prometheus.timeout)
        return self._prom

    # --- public ----------------------------------------------------------------------------

    def request_capture(self, labels: dict[str, str]) -> str | None:
        """Called by the webhook receiver (any thread): queue a capture of the target the
        labels name; returns its name, or None when no watched target matches."""
        name = self.match_target(labels)
        if name is not None:
            self._requests.put((name, "alertmanager"))
        return name

    def match_target(self, labels: dict[str, str]) -> str | None:
        targets = dict(self.targets)
        for key in self.cfg.receiver_target_labels:
            value = labels.get(key)
            if not value:
                continue
            if value in targets:
                return value
            hits = [t.name for t in targets.values() if t.labels.get(key) == value]
            if len(hits) == 1:
                return hits[0]
            if hits and labels.get("job"):
                for h in hits:
                    if targets[h].labels.get("job") == labels["job"]:
                        return h
        return None

    def run(self, *, max_rounds: int | None = None) -> None:
        """Loop until ``stop_event`` (SIGTERM, Ctrl-C) or ``max_rounds`` screening rounds."""
        rounds = 0
        try:
            while not self.stop_event.is_set():
                now = self.clock.now()
                if now >= self._next_screen:
                    self.run_round()
                    rounds += 1
                    if max_rounds is not None and rounds >= max_rounds:
                        break
                else:
                    self.poll()
                wait = min(1.0, max(0.0, self._next_screen - self.clock.now()))
                if self.clock.sleep(wait, self.stop_event):
                    break
        finally:
            self.close()

    def run_once(self, *, wait_diagnoses: bool = True, timeout: float = 3600.0) -> RoundReport:
        """One round, then (for ``--once``) wait for the diagnoses it started and process them."""
        report = self.run_round()
        if wait_diagnoses:
            deadline = time.monotonic() + timeout
            while self._jobs and time.monotonic() < deadline and not self.stop_event.is_set():
                self.stop_event.wait(0.2)
                self._finish_jobs(report)
            self._notify(self.clock.now(), report)
        return report

    def close(self) -> None:
        """Stop collections after their current snapshot, keep what they captured, close."""
        self.stop_event.set()
        self._pool.shutdown(wait=False, cancel_futures=True)  # queued ones never start
        report = RoundReport()
        deadline = time.monotonic() + 60
        while self._jobs and time.monotonic() < deadline:
            time.sleep(0.1)
            self._finish_jobs(report)
        with contextlib.suppress(LeaksleuthError):
            self._save()
        if self.server is not None:
            self.server.close()
            self.server = None
        if self.notifier is not None:
            close = getattr(self.notifier, "close", None)
            if close is not None:
                close()
        if self._prom is not None:
            with contextlib.suppress(Exception):
                self._prom.close()
        self.state.close()

    # --- one round ---------------------------------------------------------------------------

    def poll(self) -> RoundReport:
        """Between screenings: finish diagnoses, start requested captures, re-send alerts."""
        report = RoundReport()
        now = self.clock.now()
        self._finish_jobs(report)
        self._drain_requests(now, report)
        self._schedule_diagnoses(now, report)
        self._notify(now, report)
        return report

    def run_round(self) -> RoundReport:
        started = time.monotonic()
        now = self.clock.now()
        self._next_screen = now + self.cfg.schedule.screen_every
        report = RoundReport()
        self._finish_jobs(report)
        if self._refresh_targets(report):
            # state restored from a previous run may name targets that are gone since
            for name in (set(self.alerts) | set(self.records)) - set(self.targets):
                self._forget(name)
        results = self._screen(now, report)
        by_name = {_name(r): r for r in results}
        self.last_results = by_name
        report.results = list(results)
        report.screened = len(results)
        fresh = max(self.cfg.schedule.diagnose_flagged_every, self.cfg.schedule.screen_every) * 2
        for name in self.targets:
            rec = self.records.setdefault(name, TargetRecord(name))
            res = by_name.get(name)
            self._record_screen(rec, res, now)
            sig = signal_from(res, rec, now, fresh)
            states, events = evaluate(self.cfg.alerts, self.alerts.get(name, {}), sig, now)
            self.alerts[name] = states
            self._track_episode(rec, states)
            for level, ev in events:
                report.events.append((name, level, ev))
                log.info("%s: %s %s", name, level, ev)
                if ev == "resolved":
                    self._queue_resolved(name, level, now)
            self.metrics.set_level(name, level_number(states))
        self._drain_requests(now, report)
        self._schedule_diagnoses(now, report)
        self._notify(now, report)
        self._save()
        self.metrics.targets.set(len(self.targets))
        self.metrics.round_seconds.set(time.monotonic() - started)
        return report

    def _refresh_targets(self, report: RoundReport) -> bool:
        """Re-discover the fleet; False when discovery failed (the fleet is then unknown)."""
        pc = self.cfg.prometheus
        if pc is None or self.prom is None:
            return True
        try:
            if self._discover_fn is not None:
                found = self._discover_fn(self.prom, pc.selector, pc.pprof_url)
            else:
                from leaksleuth.watch.targets import discover

                found = discover(self.prom, pc.selector, pc.pprof_url)
        except LeaksleuthError as exc:
            self._error("discovery", f"target discovery failed: {exc}", report)
            return False
        static = {t.name for t in self.cfg.targets}
        current = {t.name: t for t in found}
        for name in [n for n in self.targets if n not in static and n not in current]:
            self._forget(name)
        for name, t in current.items():
            if name not in static:
                self.targets[name] = t
        return True

    def _forget(self, name: str) -> None:
        """A target that left the fleet: resolve its alerts, drop its series and state."""
        now = self.clock.now()
        for level, st in self.alerts.get(name, {}).items():
            if st.state == "firing":
                self._queue_resolved(name, level, now)
        self.alerts.pop(name, None)
        self.sent_labels.pop(name, None)
        self.records.pop(name, None)
        self.targets.pop(name, None)
        self._wanted.pop(name, None)
        self.metrics.forget(name)
        with contextlib.suppress(LeaksleuthError):
            self.state.forget_target(name)

    def _screen(self, now: float, report: RoundReport) -> list[Any]:
        pc = self.cfg.prometheus
        if pc is None or not self.targets:
            return []
        sched = self.cfg.schedule
        try:
            if self._screen_fn is not None:
                fn = self._screen_fn
            else:
                from leaksleuth.watch.screen import screen_fleet

                fn = screen_fleet
            results = list(fn(self.prom, list(self.targets.values()), start=now - sched.window,
                              end=now, step=sched.step, selector=pc.selector))
        except LeaksleuthError as exc:
            self._error("prometheus", f"screening failed: {exc}", report)
            return []
        self.metrics.screens.inc()
        return results

    def _record_screen(self, rec: TargetRecord, res: Any, now: float) -> None:
        if res is None:
            return
        status = str(getattr(res, "status", ""))
        if status == "insufficient-data" and rec.screen.get("status") not in (
                None, "insufficient-data"):
            # keep the last figures that said something; note that this round could not
            rec.screen = {**rec.screen, "status": status, "at": now, "reasons": [
                str(r) for r in getattr(res, "reasons", ()) or ()][:5], "stale": True}
            self._screen_metrics(rec, now)
            return
        growth = _finite(getattr(res, "live_heap_growth_bytes_per_second", None))
        rec.screen = {
            "status": status,
            "growth_bytes_per_second": growth,
            "goroutine_growth_per_second": _finite(getattr(res, "goroutine_growth_per_second",
                                                           None)),
            "time_to_exhaustion_seconds": _finite(getattr(res, "time_to_exhaustion_seconds",
                                                          None)),
            "confidence": _finite(getattr(res, "confidence", None)),
            "heap_bytes_last": _finite(getattr(res, "heap_bytes_last", None)),
            "rss_bytes_last": _finite(getattr(res, "rss_bytes_last", None)),
            "goroutines_last": _finite(getattr(res, "goroutines_last", None)),
            "limit_bytes": _finite(getattr(res, "limit_bytes", None)),
            "reasons": [str(r) for r in getattr(res, "reasons", ()) or ()][:5],
            "at": now,
        }
        if status != "insufficient-data":
            rec.last_seen = now
        self._screen_metrics(rec, now)

    def _screen_metrics(self, rec: TargetRecord, now: float) -> None:
        s = rec.screen
        heap = rec.heap_floor_bytes if rec.heap_floor_bytes is not None else \
            s.get("heap_bytes_last")
        self.metrics.set_target(
            rec.name, growth=s.get("growth_bytes_per_second"),
            goroutine_growth=s.get("goroutine_growth_per_second"),
            tte=s.get("time_to_exhaustion_seconds"), confidence=s.get("confidence"),
            heap_floor=heap, status=s.get("status") or None, screened_at=now)

    # --- diagnoses and captures -------------------------------------------------------------

    def _drain_requests(self, now: float, report: RoundReport) -> None:
        """Capture requests from the webhook receiver join the queue of wanted captures."""
        while True:
            try:
                name, trigger = self._requests.get_nowait()
            except queue.Empty:
                return
            if name not in self.targets:
                continue
            job = self._jobs.get(name)
            if job is not None:
                job.capture = True  # the running session becomes the evidence
                continue
            rec = self.records.setdefault(name, TargetRecord(name))
            last = self.bundles.get(rec.last_bundle or "")
            if last is not None and now - last.created < self.cfg.schedule.diagnose_flagged_every:
                continue  # evidence this recent is already on disk
            self._wanted.setdefault(name, trigger)

    @staticmethod
    def _track_episode(rec: TargetRecord, states: dict[str, LevelState]) -> None:
        """An alert episode runs from the round a level first goes pending (or firing) until
        no level is; a state restored without its start takes the earliest level's."""
        active = [st.since for st in states.values() if st.state != "inactive"]
        if not active:
            rec.episode_since = None
        elif rec.episode_since is None:
            rec.episode_since = min(active)

    def _needs_evidence(self, rec: TargetRecord, now: float) -> bool:
        """Whether a target in an alert episode still lacks its evidence bundle: none kept
        since the episode began, and none kept within the flagged cooldown (so a level that
        flaps does not start a capture each time it comes back). A bundle that retention
        removed still counts, or a budget too small for one would start a capture per round;
        a capture of this episode that could not be written waits for the cooldown too."""
        if rec.episode_since is None:
            return False
        if rec.capture_failed_at is not None and rec.capture_failed_at >= rec.episode_since:
            return False
        kept = rec.bundle_kept_at
        if kept is None:  # state written before the keep time was recorded
            last = self.bundles.get(rec.last_bundle or "")
            kept = last.created if last is not None else None
        if kept is None:
            return True
        if kept >= rec.episode_since:
            return False
        return now - kept >= self.cfg.schedule.diagnose_flagged_every

    def _schedule_diagnoses(self, now: float, report: RoundReport) -> None:
        """Fill the free diagnosis slots, most urgent first: requested captures, critical,
        warning, flagged by screening, then the slow schedule (longest undiagnosed first).
        Only ``concurrency`` sessions run at once and nothing queues behind them, so a slow
        pass over a large fleet never delays the capture of a target that just turned bad.
        A target whose alert episode has no evidence yet is captured at once, even if a
        diagnosis that ended just before the level was reached (and so kept nothing) is within
        the flagged cooldown; after a failed diagnosis the cooldown and the backoff still
        hold, so a target that refuses is not retried every round."""
        sched = self.cfg.schedule
        free = sched.concurrency - len(self._jobs)
        if free <= 0:
            return
        cands: list[tuple[int, float, str, str, bool]] = []
        for name, trigger in list(self._wanted.items()):
            if name not in self.targets:
                del self._wanted[name]
                continue
            cands.append((-1, 0.0, name, trigger, True))
        for name, target in self.targets.items():
            if target.pprof_url is None or name in self._jobs or name in self._wanted:
                continue
            rec = self.records.setdefault(name, TargetRecord(name))
            if now < rec.next_attempt:
                continue
            states = self.alerts.get(name, {})
            level = highest(states) or highest(states, "pending")
            status = rec.screen.get("status")
            last = rec.diagnosed_at if rec.diagnosed_at is not None else -math.inf
            if level is not None or status in FLAGGED:
                due = now - last >= sched.diagnose_flagged_every or (
                    level is not None and rec.failures == 0 and self._needs_evidence(rec, now))
                if due:
                    rank = 0 if level == "critical" else 1 if level is not None else 2
                    cands.append((rank, last, name, level or "flagged", level is not None))
            elif sched.diagnose_every is not None and now - last >= sched.diagnose_every:
                cands.append((3, last, name, "schedule", False))
        cands.sort()
        for _, _, name, trigger, capture in cands[:free]:
            self._wanted.pop(name, None)
            self._start(name, trigger, capture, report)

    def _start(self, name: str, trigger: str, capture: bool, report: RoundReport) -> None:
        target = self.targets[name]
        if target.pprof_url is None:
            return
        now = self.clock.now()
        staging = self.evidence.stage(name, now)
        job = _Job(name, trigger, capture, staging)
        rec = self.records.setdefault(name, TargetRecord(name))
        rec.diagnosed_at = now  # the attempt counts for the schedule even if it fails
        job.future = self._pool.submit(
            self._diagnose, staging, target=name, pprof_url=target.pprof_url,
            schedule=self.cfg.schedule, pid=target.pid, stop=self.stop_event)
        self._jobs[name] = job
        report.diagnoses_started.append(name)

    def _finish_jobs(self, report: RoundReport) -> None:
        for name, job in list(self._jobs.items()):
            fut = job.future
            if fut is None or not fut.done():
                continue
            del self._jobs[name]
            if fut.cancelled():  # queued when the watcher stopped: nothing was collected
                self.evidence.discard(job.staging)
                continue
            try:
                outcome = fut.result()
            except Exception as exc:  # the diagnose function itself broke
                self._error("internal", f"{name}: diagnosis crashed: {exc}", report)
                continue
            self._finish(job, outcome, report)

    def _finish(self, job: _Job, out: DiagnosisOutcome, report: RoundReport) -> None:
        now = self.clock.now()
        if out.error_kind == "stopped":  # not the target's fault: no backoff, no evidence
            self.evidence.discard(out.staging)
            return
        rec = self.records.setdefault(job.target, TargetRecord(job.target))
        sched = self.cfg.schedule
        if out.error is not None:
            rec.failures += 1
            delay = min(sched.backoff_max, sched.backoff_min * 2 ** (rec.failures - 1))
            rec.next_attempt = now + delay
            rec.last_error = out.error
            self.metrics.diagnoses.labels("failed").inc()
            self._error(out.error_kind or "diagnosis", f"{job.target}: {out.error} "
                        f"(retry in {human_duration(delay)})", report)
            self.metrics.set_up(job.target, False)
        else:
            d = out.diagnosis
            assert d is not None
            rec.failures = 0
            rec.next_attempt = 0.0
            rec.last_error = None
            rec.last_seen = now
            rec.diagnosed_at = now
            rec.verdict = d.verdict
            top = d.suspects[0] if d.suspects else None
            rec.confidence = top.confidence if top and d.verdict in ("leak", "retention") \
                else 0.0
            rec.suspect = f"{top.kind} in {top.function}" if top else None
            floors = d.heap.floor_bytes
            rec.heap_floor_bytes = float(floors[-1]) if floors else None
            rec.growth_bytes_per_second = _finite(d.heap.growth_bytes_per_second)
            self.metrics.diagnoses.labels("ok").inc()
            self.metrics.set_up(job.target, True)
            self.metrics.set_diagnosis(job.target, d.verdict, now, rec.heap_floor_bytes)
        level = highest(self.alerts.get(job.target, {})) or highest(
            self.alerts.get(job.target, {}), "pending")
        keep = (job.capture or level is not None) and out.session_dir is not None
        if keep:
            try:
                extra = {"error": out.error} if out.error else {}
                bundle = self.evidence.publish(
                    out.staging, target=job.target, created=out.started,
                    trigger=job.trigger, diagnosis=out.diagnosis,
                    session_dir=out.session_dir, extra=extra)
            except LeaksleuthError as exc:
                self._error("evidence", f"{job.target}: {exc}", report)
                self.evidence.discard(out.staging)
                rec.capture_failed_at = now
            else:
                self.bundles[bundle.id] = bundle
                with contextlib.suppress(LeaksleuthError):
                    self.state.add_bundle(BundleRow(bundle.id, bundle.target, bundle.created,
                                                    bundle.bytes, bundle.verdict,
                                                    bundle.trigger))
                rec.last_bundle = bundle.id
                rec.bundle_kept_at = now
                report.bundles.append(bundle)
                self.metrics.captures.labels(job.trigger).inc()
                log.info("%s: evidence bundle %s (%s)", job.target, bundle.path,
                         bundle.verdict or "no verdict")
                self._enforce_retention(now, report)
        else:
            self.evidence.discard(out.staging)
        self._save()

    def _enforce_retention(self, now: float, report: RoundReport) -> None:
        pinned = {self.records[t].last_bundle for t, st in self.alerts.items()
                  if highest(st) is not None and t in self.records}
        pinned.discard(None)
        removed = self.evidence.enforce(self.bundles.values(), {p for p in pinned if p}, now)
        for bid in removed:
            self.bundles.pop(bid, None)
        if removed:
            with contextlib.suppress(LeaksleuthError):
                self.state.remove_bundles(removed)
        self._update_evidence_metrics()

    def _update_evidence_metrics(self) -> None:
        self.metrics.evidence_bundles.set(len(self.bundles))
        self.metrics.evidence_bytes.set(sum(b.bytes for b in self.bundles.values()))

    # --- notifications -----------------------------------------------------------------------

    def evidence_url(self, bundle_id: str | None) -> str | None:
        if bundle_id is None or bundle_id not in self.bundles:
            return None
        base = self.cfg.alerts.external_url
        if base is None and self.server is not None:
            host, _, port = self.server.address.rpartition(":")
            if host in ("0.0.0.0", "::", ""):  # listening everywhere: name this machine
                host = socket.getfqdn()
            base = f"http://{host}:{port}"
        if base:
            return f"{base}/evidence/{bundle_id}/report.html"
        return str(self.bundles[bundle_id].path / "report.html")

    def _labels(self, name: str, level: str) -> dict[str, str]:
        rec = self.records.get(name) or TargetRecord(name)
        target = self.targets.get(name)
        labels = {"alertname": self.cfg.alerts.alertname, "severity": level, "target": name,
                  "verdict": rec.verdict or str(rec.screen.get("status") or "unconfirmed")}
        if target is not None:
            for k in ("job", "instance"):
                if target.labels.get(k):
                    labels[k] = target.labels[k]
        return labels

    def _message(self, name: str, level: str, st: LevelState, now: float) -> AlertMessage:
        rec = self.records.get(name) or TargetRecord(name)
        s = rec.screen
        parts = []
        if s.get("growth_bytes_per_second") is not None:
            parts.append(f"live heap {human_rate(s['growth_bytes_per_second'])}")
        if s.get("goroutine_growth_per_second"):
            parts.append(f"goroutines {s['goroutine_growth_per_second']:+.2f}/s")
        if s.get("time_to_exhaustion_seconds") is not None:
            parts.append(f"limit reached in ~{human_duration(s['time_to_exhaustion_seconds'])}")
        if s.get("confidence") is not None:
            parts.append(f"confidence {s['confidence']:.2f}")
        summary = f"{name} is leaking memory ({level}): " + ", ".join(parts or ["see evidence"])
        link = self.evidence_url(rec.last_bundle)
        annotations = {"summary": summary,
                       "description": "; ".join(s.get("reasons") or []) or summary}
        if rec.suspect:
            annotations["suspect"] = rec.suspect
        if link:
            annotations["evidence"] = link
        if rec.verdict:
            annotations["diagnosis"] = f"{rec.verdict} (layer 2, pprof)"
        ends = now + max(4 * self.cfg.alerts.resend_every, 300.0)
        extra = {"level": level, "screen": s, "evidence_path":
                 str(self.bundles[rec.last_bundle].path) if rec.last_bundle in self.bundles
                 else None}
        # Alertmanager refuses a generatorURL that is not a URL (a bundle path without a server)
        generator = link if link and link.startswith(("http://", "https://")) else (
            self.cfg.alerts.external_url or "")
        return AlertMessage(self._labels(name, level), annotations,
                            st.active_at or now, ends, generator, "firing", extra)

    def _queue_resolved(self, name: str, level: str, now: float) -> None:
        labels = self.sent_labels.get(name, {}).pop(level, None)
        if labels is None:
            return
        self._resolved_unsent.append(AlertMessage(labels, {"summary": f"{name}: resolved"},
                                                  now, now, "", "resolved"))

    def _notify(self, now: float, report: RoundReport) -> None:
        out: list[AlertMessage] = list(self._resolved_unsent)
        sent_keys: list[tuple[str, str, dict[str, str]]] = []
        for name, states in self.alerts.items():
            for level in LEVELS:
                st = states.get(level)
                if st is None or st.state != "firing":
                    continue
                msg = self._message(name, level, st, now)
                old = self.sent_labels.get(name, {}).get(level)
                changed = old is not None and old != msg.labels
                due = st.last_sent is None or now - st.last_sent >= \
                    self.cfg.alerts.resend_every
                if not (due or changed):
                    continue
                if changed and old is not None:
                    out.append(AlertMessage(old, {"summary": f"{name}: superseded"}, now, now,
                                            "", "resolved"))
                out.append(msg)
                sent_keys.append((name, level, msg.labels))
        if not out:
            return
        if self.notifier is None:
            self._resolved_unsent.clear()
            return
        try:
            self.notifier.send(out)
        except NotifyError as exc:
            self._error("notify", str(exc), report)
            return
        self.metrics.notifications.labels("all").inc()
        self._resolved_unsent.clear()
        for name, level, labels in sent_keys:
            st = self.alerts[name][level]
            self.alerts[name][level] = replace(st, last_sent=now)
            self.sent_labels.setdefault(name, {})[level] = labels

    # --- bookkeeping -------------------------------------------------------------------------

    def _error(self, kind: str, message: str, report: RoundReport) -> None:
        self.metrics.errors.labels(kind).inc()
        report.errors.append(message)
        log.warning("%s", message)

    def _save(self) -> None:
        rows = []
        for name, states in self.alerts.items():
            for level, st in states.items():
                rows.append((name, level, st, self.sent_labels.get(name, {}).get(level, {})))
        try:
            self.state.save_alerts(rows)
            self.state.save_targets(list(self.records.values()))
        except LeaksleuthError as exc:
            self.metrics.errors.labels("state").inc()
            log.warning("%s", exc)

    def bundle_dirs(self) -> list[Path]:
        return [b.path for b in self.bundles.values()]
