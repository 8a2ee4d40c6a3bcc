"""The watcher's own metrics (prometheus-client), so Prometheus scrapes it and Grafana draws it.

Per-target gauges carry a ``target`` label and are removed when the target leaves the fleet;
counters count our own work and failures by kind. Names follow Prometheus conventions (base
units, ``_total`` counters, ``_seconds`` timestamps); ``prometheus-rules.yml`` alerts on them.
"""

from __future__ import annotations

import contextlib
import math

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import Metric

VERDICTS = ("leak", "retention", "no-leak", "inconclusive")
STATUSES = ("leak-suspect", "growing", "ok", "insufficient-data")


class WatchMetrics:
    """Every metric the watcher exports, in its own registry."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        t = ["target"]
        self.heap_floor = Gauge("leaksleuth_heap_floor_bytes",
                                "Live heap after GC (last diagnosis, else last screened heap).",
                                t, registry=r)
        self.growth = Gauge("leaksleuth_growth_bytes_per_second",
                            "Live-heap growth rate over the screening window.", t, registry=r)
        self.goroutine_growth = Gauge("leaksleuth_goroutine_growth_per_second",
                                      "Goroutine count growth over the screening window.", t,
                                      registry=r)
        self.tte = Gauge("leaksleuth_time_to_exhaustion_seconds",
                         "Estimated time until the memory limit at the current growth "
                         "(absent when no limit is known or memory is not growing).", t,
                         registry=r)
        self.confidence = Gauge("leaksleuth_leak_confidence",
                                "Confidence (0..1) that the target leaks.", t, registry=r)
        self.verdict = Gauge("leaksleuth_verdict",
                             "1 for the verdict of the last diagnosis, 0 for the others.",
                             ["target", "verdict"], registry=r)
        self.status = Gauge("leaksleuth_screen_status",
                            "1 for the last screening status, 0 for the others.",
                            ["target", "status"], registry=r)
        self.last_diagnosis = Gauge("leaksleuth_last_diagnosis_timestamp_seconds",
                                    "When the last diagnosis of the target finished.", t,
                                    registry=r)
        self.last_screen = Gauge("leaksleuth_last_screen_timestamp_seconds",
                                 "When the target was last screened.", t, registry=r)
        self.alert_level = Gauge("leaksleuth_alert_level",
                                 "Firing alert level: 0 none, 1 warning, 2 critical.", t,
                                 registry=r)
        self.target_up = Gauge("leaksleuth_target_up",
                               "1 when the last attempt to reach the target worked.", t,
                               registry=r)
        self.targets = Gauge("leaksleuth_targets", "Targets being watched.", registry=r)
        self.evidence_bytes = Gauge("leaksleuth_evidence_bytes",
                                    "Disk used by evidence bundles.", registry=r)
        self.evidence_bundles = Gauge("leaksleuth_evidence_bundles",
                                      "Evidence bundles on disk.", registry=r)
        self.screens = Counter("leaksleuth_screens", "Fleet screening rounds run.", registry=r)
        self.diagnoses = Counter("leaksleuth_diagnoses",
                                 "Diagnoses (pprof sessions) finished, by outcome.",
                                 ["outcome"], registry=r)
        self.captures = Counter("leaksleuth_evidence_captures",
                                "Evidence bundles written, by trigger.", ["trigger"],
                                registry=r)
        self.notifications = Counter("leaksleuth_notifications",
                                     "Alert batches sent, by receiver.", ["receiver"],
                                     registry=r)
        self.errors = Counter("leaksleuth_errors", "Failures of our own work, by kind.",
                              ["kind"], registry=r)
        self.round_seconds = Gauge("leaksleuth_round_duration_seconds",
                                   "Wall time of the last watch round.", registry=r)
        self._known: set[str] = set()

    def set_target(self, target: str, *, growth: float | None, goroutine_growth: float | None,
                   tte: float | None, confidence: float | None, heap_floor: float | None,
                   status: str | None, screened_at: float | None) -> None:
        """Layer-1 figures of one target (``None`` leaves the gauge out)."""
        self._known.add(target)
        for gauge, v in ((self.growth, growth), (self.goroutine_growth, goroutine_growth),
                         (self.tte, tte), (self.confidence, confidence),
                         (self.heap_floor, heap_floor), (self.last_screen, screened_at)):
            if v is None or not math.isfinite(v):
                _remove(gauge, target)
            else:
                gauge.labels(target).set(v)
        if status is not None:
            for s in STATUSES:
                self.status.labels(target, s).set(1.0 if s == status else 0.0)

    def set_diagnosis(self, target: str, verdict: str, finished: float,
                      heap_floor: float | None) -> None:
        self._known.add(target)
        for v in VERDICTS:
            self.verdict.labels(target, v).set(1.0 if v == verdict else 0.0)
        self.last_diagnosis.labels(target).set(finished)
        if heap_floor is not None:
            self.heap_floor.labels(target).set(heap_floor)

    def set_level(self, target: str, level: int) -> None:
        self._known.add(target)
        self.alert_level.labels(target).set(level)

    def set_up(self, target: str, up: bool) -> None:
        self._known.add(target)
        self.target_up.labels(target).set(1.0 if up else 0.0)

    def forget(self, target: str) -> None:
        """Drop every series of a target that left the fleet."""
        for g in (self.heap_floor, self.growth, self.goroutine_growth, self.tte,
                  self.confidence, self.last_diagnosis, self.last_screen, self.alert_level,
                  self.target_up):
            _remove(g, target)
        for v in VERDICTS:
            _remove(self.verdict, target, v)
        for s in STATUSES:
            _remove(self.status, target, s)
        self._known.discard(target)

    def known(self) -> set[str]:
        return set(self._known)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def collect(self) -> list[Metric]:
        return list(self.registry.collect())


def _remove(gauge: Gauge, *labels: str) -> None:
    with contextlib.suppress(KeyError):
        gauge.remove(*labels)
