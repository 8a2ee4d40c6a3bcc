"""The ``leaksleuth watch`` configuration file (TOML, read with the standard ``tomllib``).

Every value is checked once here, so the long-running loop never meets a bad setting at 3 a.m.:
a wrong key, type or value is a one-line ``UsageError`` naming the key. Durations and sizes use
the same spelling as the command line (``30s``, ``10m``, ``2GiB``).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from leaksleuth.errors import UsageError
from leaksleuth.units import parse_duration, parse_rate, parse_size

LEVELS = ("warning", "critical")


@dataclass(frozen=True)
class StaticTarget:
    """A service named in the file: its pprof URL, and optionally its PID and memory limit."""

    name: str
    pprof_url: str
    pid: int | None = None
    memory_limit_bytes: int | None = None
    labels: dict[str, str] = field(default_factory=dict)  # e.g. instance, for screening


@dataclass(frozen=True)
class PrometheusConfig:
    """Where the fleet's memory history lives and which scrape targets are Go services."""

    url: str
    selector: str = '{job=~".+"}'
    pprof_url: str = "{scheme}://{address}/debug/pprof"  # template; "" screens only
    timeout: float = 30.0


@dataclass(frozen=True)
class Schedule:
    """How often each layer runs. ``diagnose_every`` is the slow pass over every target."""

    screen_every: float = 60.0
    window: float = 3600.0
    step: float = 30.0
    diagnose_flagged_every: float = 900.0  # at most one targeted diagnosis per target per this
    diagnose_every: float | None = 6 * 3600.0  # None: no slow schedule
    diagnosis_duration: float = 60.0
    diagnosis_interval: float = 5.0
    concurrency: int = 2
    backoff_min: float = 30.0
    backoff_max: float = 1800.0
    gdb: bool = False  # layer 3 on targets with a PID on this machine
    material_rate: float | None = None  # bytes/s that matter to a diagnosis (None: default)


@dataclass(frozen=True)
class LevelRule:
    """When one level (warning or critical) holds. Unset criteria are ignored; at least one
    of growth, time to exhaustion or goroutine growth is set, and confidence gates them all."""

    growth_bytes_per_second: float | None = None
    time_to_exhaustion: float | None = None  # seconds; raises when the estimate is shorter
    goroutine_growth_per_second: float | None = None
    confidence: float = 0.0


@dataclass(frozen=True)
class AlertConfig:
    """Layers plus the two holds: ``hold`` (Prometheus' ``for:``) before firing, ``clear_hold``
    before resolving; ``hysteresis`` widens the thresholds a firing alert must fall below."""

    warning: LevelRule
    critical: LevelRule
    hold: float = 600.0
    clear_hold: float = 600.0
    hysteresis: float = 0.2  # fraction: clear only below threshold * (1 - hysteresis)
    alertname: str = "GoMemoryLeak"
    resend_every: float = 60.0
    alertmanager_url: str | None = None
    webhook_url: str | None = None
    external_url: str | None = None  # how alert links reach our HTTP server (evidence, /metrics)

    def rule(self, level: str) -> LevelRule:
        return self.warning if level == "warning" else self.critical


@dataclass(frozen=True)
class EvidenceConfig:
    dir: Path
    max_bytes: int = 2 << 30
    retention: float = 14 * 86400.0


@dataclass(frozen=True)
class WatchConfig:
    targets: tuple[StaticTarget, ...]
    prometheus: PrometheusConfig | None
    schedule: Schedule
    alerts: AlertConfig
    evidence: EvidenceConfig
    state_path: Path
    listen: str | None  # host:port for /metrics, the webhook receiver and evidence; None: off
    receiver_target_labels: tuple[str, ...] = ("target", "instance", "job", "service")
    source: Path | None = None


DEFAULT_WARNING = LevelRule(growth_bytes_per_second=64 * 1024, time_to_exhaustion=7 * 86400.0,
                            goroutine_growth_per_second=0.05, confidence=0.6)
DEFAULT_CRITICAL = LevelRule(growth_bytes_per_second=1024 * 1024, time_to_exhaustion=6 * 3600.0,
                             goroutine_growth_per_second=1.0, confidence=0.8)


class _Section:
    """One TOML table being read: typed getters that name the key in every error."""

    def __init__(self, doc: Mapping[str, Any], where: str) -> None:
        if not isinstance(doc, Mapping):
            raise UsageError(f"{where}: expected a table")
        self.doc = doc
        self.where = where
        self.used: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def raw(self, key: str) -> Any:
        self.used.add(key)
        return self.doc.get(key)

    def text(self, key: str, default: str | None = None) -> str | None:
        v = self.raw(key)
        if v is None:
            return default
        if not isinstance(v, str) or not v.strip():
            raise UsageError(f"{self._key(key)}: expected a non-empty string, got {v!r}")
        return v

    def duration(self, key: str, default: float | None) -> float | None:
        v = self.raw(key)
        if v is None:
            return default
        if v is False or v in ("off", "never"):
            return None
        if isinstance(v, bool) or not isinstance(v, int | float | str):
            raise UsageError(f"{self._key(key)}: expected a duration such as \"30s\", got {v!r}")
        if isinstance(v, int | float):
            if v < 0 or not math.isfinite(v):
                raise UsageError(f"{self._key(key)}: must be a positive duration, got {v!r}")
            return float(v)
        if v.strip() == "0":
            return 0.0
        days = v.strip().lower().removesuffix("d")
        if days != v.strip().lower() and days.replace(".", "", 1).isdigit():
            return float(days) * 86400.0  # retention is naturally said in days
        try:
            return parse_duration(v)
        except UsageError as exc:
            raise UsageError(f"{self._key(key)}: {exc}") from None

    def size(self, key: str, default: int | None) -> int | None:
        v = self.raw(key)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int | str):
            raise UsageError(f"{self._key(key)}: expected a size such as \"2GiB\", got {v!r}")
        if isinstance(v, int):
            if v <= 0:
                raise UsageError(f"{self._key(key)}: must be positive, got {v}")
            return v
        try:
            return parse_size(v)
        except UsageError as exc:
            raise UsageError(f"{self._key(key)}: {exc}") from None

    def rate(self, key: str, default: float | None) -> float | None:
        v = self.raw(key)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int | float | str):
            raise UsageError(f"{self._key(key)}: expected a rate such as \"20kB/s\", got {v!r}")
        if isinstance(v, int | float):
            if v <= 0 or not math.isfinite(v):
                raise UsageError(f"{self._key(key)}: must be a positive rate, got {v!r}")
            return float(v)
        try:
            return parse_rate(v)
        except UsageError as exc:
            raise UsageError(f"{self._key(key)}: {exc}") from None

    def number(self, key: str, default: float | None, *, lo: float = 0.0,
               hi: float = math.inf) -> float | None:
        v = self.raw(key)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
            raise UsageError(f"{self._key(key)}: expected a number in [{lo}, {hi}], got {v!r}")
        return float(v)

    def integer(self, key: str, default: int, *, lo: int = 1) -> int:
        v = self.raw(key)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise UsageError(f"{self._key(key)}: expected an integer >= {lo}, got {v!r}")
        return v

    def boolean(self, key: str, default: bool) -> bool:
        v = self.raw(key)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise UsageError(f"{self._key(key)}: expected true or false, got {v!r}")
        return v

    def table(self, key: str) -> _Section | None:
        v = self.raw(key)
        return None if v is None else _Section(v, self._key(key))

    def done(self) -> None:
        unknown = sorted(set(self.doc) - self.used)
        if unknown:
            where = f" in [{self.where}]" if self.where else ""
            raise UsageError(f"unknown setting {unknown[0]!r}{where}")


def _url(value: str | None, key: str) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{key}: not an http(s) URL: {value!r}")
    return value.rstrip("/")


def _level(sec: _Section | None, default: LevelRule) -> LevelRule:
    if sec is None:
        return default
    growth = sec.size("growth_bytes_per_second", None)
    rule = LevelRule(
        growth_bytes_per_second=float(growth) if growth is not None else None,
        time_to_exhaustion=sec.duration("time_to_exhaustion", None),
        goroutine_growth_per_second=sec.number("goroutine_growth_per_second", None),
        confidence=sec.number("confidence", 0.0, hi=1.0) or 0.0,
    )
    sec.done()
    if (rule.growth_bytes_per_second is None and rule.time_to_exhaustion is None
            and rule.goroutine_growth_per_second is None):
        raise UsageError(f"[{sec.where}]: set at least one of growth_bytes_per_second, "
                         "time_to_exhaustion, goroutine_growth_per_second")
    return rule


def _targets(doc: Any) -> tuple[StaticTarget, ...]:
    if doc is None:
        return ()
    if not isinstance(doc, list):
        raise UsageError("targets: expected [[targets]] tables")
    out: list[StaticTarget] = []
    seen: set[str] = set()
    for i, item in enumerate(doc):
        sec = _Section(item, f"targets[{i}]")
        name = sec.text("name")
        url = _url(sec.text("pprof_url"), f"targets[{i}].pprof_url")
        if name is None or url is None:
            raise UsageError(f"targets[{i}]: name and pprof_url are required")
        if name in seen:
            raise UsageError(f"targets[{i}]: duplicate target name {name!r}")
        seen.add(name)
        pid = sec.raw("pid")
        if pid is not None and (isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0):
            raise UsageError(f"targets[{i}].pid: expected a process id, got {pid!r}")
        labels_doc = sec.raw("labels") or {}
        if not isinstance(labels_doc, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in labels_doc.items()):
            raise UsageError(f"targets[{i}].labels: expected a table of strings")
        out.append(StaticTarget(name, url, pid, sec.size("memory_limit", None),
                                dict(labels_doc)))
        sec.done()
    return tuple(out)


def parse_config(doc: Mapping[str, Any], *, base: Path | None = None) -> WatchConfig:
    """Validate a parsed TOML document; relative paths are taken from ``base``."""
    top = _Section(doc, "")
    base = base or Path.cwd()

    def path(v: str | None, default: str) -> Path:
        p = Path(v or default).expanduser()
        return p if p.is_absolute() else base / p

    targets = _targets(top.raw("targets"))

    prom = None
    psec = top.table("prometheus")
    if psec is not None:
        url = _url(psec.text("url"), "prometheus.url")
        if url is None:
            raise UsageError("prometheus.url is required in [prometheus]")
        tmpl = psec.raw("pprof_url")
        if tmpl is None:
            tmpl = PrometheusConfig.pprof_url
        if not isinstance(tmpl, str) or (tmpl and "{" not in tmpl):
            raise UsageError("prometheus.pprof_url: a template such as "
                             "\"http://{host}:6060/debug/pprof\" (fields: scheme, host, port, "
                             "address, job, instance and every target label), or \"\" to "
                             "screen only")
        prom = PrometheusConfig(url, psec.text("selector", PrometheusConfig.selector) or "",
                                tmpl, psec.duration("timeout", 30.0) or 30.0)
        psec.done()
    if not targets and prom is None:
        raise UsageError("nothing to watch: add [[targets]] or a [prometheus] section")

    s = top.table("schedule") or _Section({}, "schedule")
    d = Schedule()
    schedule = Schedule(
        screen_every=s.duration("screen_every", d.screen_every) or d.screen_every,
        window=s.duration("window", d.window) or d.window,
        step=s.duration("step", d.step) or d.step,
        diagnose_flagged_every=s.duration("diagnose_flagged_every",
                                          d.diagnose_flagged_every) or 0.0,
        diagnose_every=s.duration("diagnose_every", d.diagnose_every),
        diagnosis_duration=s.duration("diagnosis_duration", d.diagnosis_duration) or 1.0,
        diagnosis_interval=s.duration("diagnosis_interval", d.diagnosis_interval) or 1.0,
        concurrency=s.integer("concurrency", d.concurrency),
        backoff_min=s.duration("backoff_min", d.backoff_min) or 1.0,
        backoff_max=s.duration("backoff_max", d.backoff_max) or 1.0,
        gdb=s.boolean("gdb", d.gdb),
        material_rate=s.rate("material_rate", d.material_rate),
    )
    s.done()
    if schedule.step > schedule.window / 3:
        raise UsageError("schedule.step: must be at most a third of schedule.window")
    if schedule.diagnosis_interval * 3 > schedule.diagnosis_duration:
        raise UsageError("schedule.diagnosis_duration: must cover at least three "
                         "diagnosis_interval snapshots")
    if schedule.backoff_max < schedule.backoff_min:
        raise UsageError("schedule.backoff_max: must not be below backoff_min")

    a = top.table("alerts") or _Section({}, "alerts")
    warning = _level(a.table("warning"), DEFAULT_WARNING)
    critical = _level(a.table("critical"), DEFAULT_CRITICAL)
    am = a.table("alertmanager")
    am_url = _url(am.text("url"), "alerts.alertmanager.url") if am else None
    if am:
        am.done()
    wh = a.table("webhook")
    wh_url = _url(wh.text("url"), "alerts.webhook.url") if wh else None
    if wh:
        wh.done()
    alerts = AlertConfig(
        warning=warning, critical=critical,
        hold=a.duration("for", 600.0) or 0.0,
        clear_hold=a.duration("clear_for", 600.0) or 0.0,
        hysteresis=a.number("hysteresis", 0.2, hi=0.9) or 0.0,
        alertname=a.text("alertname", "GoMemoryLeak") or "GoMemoryLeak",
        resend_every=a.duration("resend_every", 60.0) or 60.0,
        alertmanager_url=am_url, webhook_url=wh_url,
        external_url=_url(a.text("external_url"), "alerts.external_url"),
    )
    a.done()

    e = top.table("evidence") or _Section({}, "evidence")
    evidence = EvidenceConfig(
        dir=path(e.text("dir"), "leaksleuth-watch/evidence"),
        max_bytes=e.size("max_bytes", 2 << 30) or (2 << 30),
        retention=e.duration("retention", 14 * 86400.0) or 14 * 86400.0,
    )
    e.done()

    st = top.table("state") or _Section({}, "state")
    state_path = path(st.text("path"), "leaksleuth-watch/state.sqlite")
    st.done()

    srv = top.table("server") or _Section({}, "server")
    listen = srv.text("listen")
    if listen is not None:
        host, sep, port = listen.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise UsageError(f"server.listen: expected host:port, got {listen!r}")
    labels = srv.raw("target_labels")
    if labels is None:
        target_labels = WatchConfig.receiver_target_labels
    elif isinstance(labels, list) and labels and all(isinstance(x, str) for x in labels):
        target_labels = tuple(labels)
    else:
        raise UsageError("server.target_labels: expected a list of label names")
    srv.done()
    top.done()
    return WatchConfig(targets, prom, schedule, alerts, evidence, state_path, listen,
                       target_labels)


def load_config(path: str | Path) -> WatchConfig:
    """Read and validate ``path``; relative paths inside it are relative to its directory."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise UsageError(f"{p}: cannot read the config ({exc.strerror})") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{p}: not valid TOML ({exc})") from None
    cfg = parse_config(doc, base=p.resolve().parent)
    return WatchConfig(cfg.targets, cfg.prometheus, cfg.schedule, cfg.alerts, cfg.evidence,
                       cfg.state_path, cfg.listen, cfg.receiver_target_labels, p)
