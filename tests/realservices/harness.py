"""Third-party Go services from Debian, started on 127.0.0.1 with free ports, under load that
we generate ourselves: the corpus on which verdicts must hold (see README.md beside this file).

Every service gets its own temporary directory and ephemeral ports; every load loop is bounded
(by a deadline and a request cap) and stops by itself. Nothing here talks to anything but
127.0.0.1.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import httpx

from leaksleuth.analyze.diagnosis import Diagnosis
from leaksleuth.app import diagnose
from leaksleuth.collect.collector import CollectConfig, collect
from leaksleuth.collect.session import open_session
from leaksleuth.profile.snapshot import Snapshot
from support.promserver import free_port

PUSHGATEWAY = "/usr/bin/prometheus-pushgateway"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
ETCD = "/usr/bin/etcd"
T = TypeVar("T")
MAX_REQUESTS = 200_000  # a hard cap on every load loop, whatever its deadline
MAX_EXTRA_WARMUP = 60.0  # seconds a warm-up may wait for its request count


@dataclass
class Service:
    """A running third-party service: its pprof base URL, API base URL and process."""

    name: str
    proc: subprocess.Popen[bytes]
    url: str  # where /debug/pprof lives
    api: str  # where the load goes
    workdir: Path
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited {proc.returncode}: {log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"not ready after {timeout:.0f} s: {log.read_text()[-2000:]}")


@contextlib.contextmanager
def _run(name: str, argv_for: Callable[[Path], tuple[list[str], str, str, str]],
         env: dict[str, str] | None = None) -> Iterator[Service]:
    """Start ``argv_for(workdir)`` -> (argv, pprof url, api url, ready url); stop it after."""
    workdir = Path(tempfile.mkdtemp(prefix=f"leaksleuth-{name}-"))
    log = workdir / "service.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        for _attempt in range(3):  # a port taken between free_port() and bind: try again
            argv, url, api, ready = argv_for(workdir)
            with log.open("wb") as fh:
                proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, cwd=workdir,
                                        env={**os.environ, **(env or {})})
            try:
                _wait_ready(ready, proc, log)
                break
            except RuntimeError:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
                proc = None
        if proc is None:
            raise RuntimeError(f"{name} did not start: {log.read_text()[-2000:]}")
        yield Service(name, proc, url, api, workdir, log)
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def pushgateway() -> contextlib.AbstractContextManager[Service]:
    def argv(_: Path) -> tuple[list[str], str, str, str]:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        # Debian's default persists to /var/lib/prometheus/pushgateway.data, shared by every
        # instance on the machine: keep each test's groups in its own memory only
        return ([PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}", "--persistence.file="],
                base, base, base + "/-/ready")
    return _run("pushgateway", argv)


AM_CONFIG = """\
global:
  resolve_timeout: 1h
route:
  receiver: blackhole
  group_by: ['alertname']
  group_wait: 1h
  group_interval: 1h
  repeat_interval: 24h
receivers:
  - name: blackhole
"""


def alertmanager() -> contextlib.AbstractContextManager[Service]:
    def argv(wd: Path) -> tuple[list[str], str, str, str]:
        port = free_port()
        cfg = wd / "alertmanager.yml"
        cfg.write_text(AM_CONFIG)
        (wd / "data").mkdir(exist_ok=True)
        base = f"http://127.0.0.1:{port}"
        return ([ALERTMANAGER, f"--config.file={cfg}", f"--storage.path={wd / 'data'}",
                 f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                base, base, base + "/-/ready")
    return _run("alertmanager", argv)


def etcd() -> contextlib.AbstractContextManager[Service]:
    def argv(wd: Path) -> tuple[list[str], str, str, str]:
        cport, pport = free_port(), free_port()
        client, peer = f"http://127.0.0.1:{cport}", f"http://127.0.0.1:{pport}"
        return ([ETCD, "--name", "t", "--data-dir", str(wd / "data"),
                 "--listen-client-urls", client, "--advertise-client-urls", client,
                 "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                 "--initial-cluster", f"t={peer}", "--enable-pprof", "--log-level", "error",
                 # the raft log is kept in memory until a snapshot: snapshot often, so a
                 # steady workload reaches its steady state within seconds
                 "--snapshot-count", "1000"],
                client, client, client + "/health")
    return _run("etcd", argv)


# ---------------------------------------------------------------- load

@dataclass
class Load:
    """A bounded load loop run by ``workers`` threads until ``stop`` or ``deadline``."""

    step: Callable[[httpx.Client, int], None]  # one request; the argument is a global counter
    workers: int = 4
    pause: float = 0.0  # seconds each worker sleeps between requests
    done: int = 0
    failed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, deadline: float, stop: threading.Event) -> None:
        threads = [threading.Thread(target=self._worker, args=(deadline, stop), daemon=True)
                   for _ in range(self.workers)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()

    def _next(self) -> int | None:
        with self._lock:
            n = self.done + self.failed
            if n >= MAX_REQUESTS:
                return None
            self.done += 1
            return n

    def _worker(self, deadline: float, stop: threading.Event) -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set() and time.monotonic() < deadline:
                i = self._next()
                if i is None:
                    return
                try:
                    self.step(client, i)
                except httpx.HTTPError:
                    with self._lock:
                        self.failed += 1
                if self.pause:
                    stop.wait(self.pause)


def _metrics_body(i: int, n: int = 40) -> bytes:
    lines = ["# TYPE job_metric gauge"]
    lines += [f'job_metric{{k="{j}",path="/api/v1/items/{j}"}} {i + j}' for j in range(n)]
    return ("\n".join(lines) + "\n").encode()


def push_new_groups(svc: Service) -> Load:
    """Every push goes to a group never seen before: the gateway keeps each one forever."""
    def step(c: httpx.Client, i: int) -> None:
        c.put(f"{svc.api}/metrics/job/batch/instance/host-{i}", content=_metrics_body(i, 100))
    return Load(step, workers=3, pause=0.05)


def push_same_groups(svc: Service, groups: int = 50) -> Load:
    """Pushes that replace the same groups over and over: steady state."""
    def step(c: httpx.Client, i: int) -> None:
        c.put(f"{svc.api}/metrics/job/batch/instance/host-{i % groups}",
              content=_metrics_body(i))
    return Load(step, workers=3, pause=0.05)


def _alerts(ids: range, ends_in: timedelta) -> list[dict[str, object]]:
    now = datetime.now(UTC)
    return [{
        "labels": {"alertname": "DiskFull", "instance": f"host-{k}", "severity": "page",
                   "team": f"team-{k % 7}"},
        "annotations": {"summary": f"disk almost full on host-{k}"},
        "startsAt": now.isoformat(), "endsAt": (now + ends_in).isoformat(),
        "generatorURL": f"http://127.0.0.1/graph?g0.expr=disk{k}",
    } for k in ids]


def alerts_new_labels(svc: Service, batch: int = 10) -> Load:
    """Every post fires alerts with label sets never seen before, ending in an hour: the
    alert store keeps them until they resolve."""
    def step(c: httpx.Client, i: int) -> None:
        c.post(f"{svc.api}/api/v2/alerts",
               json=_alerts(range(i * batch, (i + 1) * batch), timedelta(hours=1)))
    return Load(step, workers=3, pause=0.05)


def alerts_same_labels(svc: Service, batch: int = 10, distinct: int = 100) -> Load:
    """The same alerts re-posted (as Prometheus does every evaluation): steady state."""
    def step(c: httpx.Client, i: int) -> None:
        start = (i * batch) % distinct
        c.post(f"{svc.api}/api/v2/alerts",
               json=_alerts(range(start, start + batch), timedelta(hours=1)))
    return Load(step, workers=3, pause=0.05)


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def etcd_new_keys(svc: Service) -> Load:
    """Every put writes a key never seen before: the in-memory key index only grows."""
    value = _b64("v" * 64)

    def step(c: httpx.Client, i: int) -> None:
        c.post(f"{svc.api}/v3/kv/put",
               json={"key": _b64(f"/registry/pods/ns-{i % 97}/pod-{i:08d}-" + "x" * 1000),
                     "value": value})
    return Load(step, workers=3, pause=0.005)


def etcd_fixed_keys(svc: Service, keys: int = 200, compact_every: int = 500) -> Load:
    """Overwrites of a fixed key set, compacted regularly (as the Kubernetes API server
    does): old revisions are dropped, the index stays the same size."""
    value = _b64("v" * 64)

    def step(c: httpx.Client, i: int) -> None:
        r = c.post(f"{svc.api}/v3/kv/put",
                   json={"key": _b64(f"/registry/pods/fixed-{i % keys:04d}"), "value": value})
        if i % compact_every == compact_every - 1:
            rev = int(json.loads(r.content)["header"]["revision"])
            c.post(f"{svc.api}/v3/kv/compaction", json={"revision": str(rev - keys)})
    return Load(step, workers=3, pause=0.005)


@dataclass(frozen=True)
class Workload:
    """One service under one load, with what plain pprof showed it does (README.md)."""

    name: str
    start: Callable[[], contextlib.AbstractContextManager[Service]]
    load: Callable[[Service], Load]
    leaking: bool
    storage: tuple[str, ...] = ()  # the service's own storage code a leak suspect must name
    warmup: float = 20.0  # seconds under load before the window (what plain pprof showed)
    warmup_requests: int = 0  # ... and at least this many requests served (slow machines)


WORKLOADS: tuple[Workload, ...] = (
    Workload("pushgateway-new-groups", pushgateway, push_new_groups, True,
             ("github.com/prometheus/pushgateway/storage.",)),
    Workload("pushgateway-same-groups", pushgateway, push_same_groups, False),
    Workload("alertmanager-new-alerts", alertmanager, alerts_new_labels, True,
             # the alert store, or the conversion in api/v2 that builds the label sets and
             # alerts it keeps (where pprof charges most of the retained bytes)
             ("github.com/prometheus/alertmanager/store.",
              "github.com/prometheus/alertmanager/provider/mem.",
              "github.com/prometheus/alertmanager/api/v2.")),
    Workload("alertmanager-same-alerts", alertmanager, alerts_same_labels, False),
    # etcd keeps 5000 raft entries in memory after each snapshot: ~35 s of this load to fill
    # the key index (mvcc), or the decoding of the put whose key bytes the index keeps
    # (where plain pprof charges most of the growth: see README.md)
    Workload("etcd-new-keys", etcd, etcd_new_keys, True,
             ("go.etcd.io/etcd/mvcc.", "go.etcd.io/etcd/etcdserver/etcdserverpb.(*PutRequest)"),
             warmup=40.0, warmup_requests=9000),
    Workload("etcd-fixed-keys-compacted", etcd, etcd_fixed_keys, False, warmup=40.0,
             warmup_requests=9000),
)


def by_name(name: str) -> Workload:
    for w in WORKLOADS:
        if w.name == name:
            return w
    raise KeyError(name)


def missing_binaries() -> list[str]:
    return [p for p in (PUSHGATEWAY, ALERTMANAGER, ETCD) if not Path(p).exists()]


@contextlib.contextmanager
def loaded(w: Workload, seconds: float) -> Iterator[tuple[Service, Load]]:
    """The service running with its load on a background thread for at most ``seconds``."""
    with w.start() as svc:
        load = w.load(svc)
        stop = threading.Event()
        th = threading.Thread(target=load.run, args=(time.monotonic() + seconds, stop),
                              daemon=True)
        th.start()
        try:
            yield svc, load
        finally:
            stop.set()
            th.join(30)


@dataclass
class Run:
    """One workload collected for a window, and the diagnoses of that window and its parts."""

    workload: Workload
    diagnoses: dict[str, Diagnosis] = field(default_factory=dict)  # label -> diagnosis
    requests: int = 0
    error: str | None = None
    session: Path | None = None


def windows_of(snaps: list[Snapshot], seconds: float) -> list[list[Snapshot]]:
    """Consecutive sub-windows of ``seconds`` each (the last one ends with the session)."""
    if not snaps:
        return []
    out = []
    end = snaps[-1].time
    while end - seconds >= snaps[0].time - 0.5:
        out.append([s for s in snaps if end - seconds - 0.5 <= s.time <= end + 0.5])
        end -= seconds
    return out[::-1]


def run_workload(w: Workload, window: float, interval: float, out: Path, *,
                 warmup: float | None = None, sub_windows: tuple[float, ...] = ()) -> Run:
    """Warm the service up under load, collect ``window`` seconds with the real collector,
    diagnose the window (label ``"<window>s"``) and each consecutive sub-window
    (``"<sub>s#<k>"``)."""
    run = Run(w)
    warmup = w.warmup if warmup is None else warmup
    try:
        with loaded(w, warmup + window + MAX_EXTRA_WARMUP + 30) as (svc, load):
            time.sleep(warmup)
            until = time.monotonic() + MAX_EXTRA_WARMUP
            while load.done < w.warmup_requests and time.monotonic() < until:
                time.sleep(0.5)
            info = collect(CollectConfig(svc.url, interval=interval, duration=window + interval,
                                         out_dir=out / w.name, metrics_path="",
                                         timeout=10.0))
            run.requests = load.done
        run.session = info.path
        settings = {"interval": interval, "gc": True}
        snaps = list(open_session(info.path).snapshots())
        run.diagnoses[f"{window:.0f}s"] = diagnose(snaps, settings=settings,
                                                           target=svc.url).diagnosis
        for sub in sub_windows:
            for k, part in enumerate(windows_of(snaps, sub)):
                run.diagnoses[f"{sub:.0f}s#{k}"] = diagnose(
                    part, settings=settings, target=svc.url).diagnosis
    except Exception as exc:  # reported per workload by the caller, not lost in a thread
        run.error = f"{type(exc).__name__}: {exc}"
    return run


def names_storage(w: Workload, d: Diagnosis, top: int = 5) -> bool:
    """Whether one of the first suspects names the service's own storage code."""
    for s in d.suspects[:top]:
        if any(f.startswith(w.storage) for f in (s.function, *s.stack)):
            return True
    return False


def right(w: Workload, d: Diagnosis, *, full_window: bool) -> bool:
    """The verdict rules: with the full window, leaks are ``leak`` naming the storage code and
    healthy services ``no-leak``; any shorter window may say ``inconclusive`` instead, but a
    leak is never ``no-leak`` and a healthy service never ``leak``."""
    if w.leaking:
        if d.verdict == "leak":
            return names_storage(w, d) or not full_window
        return not full_window and d.verdict == "inconclusive"
    return d.verdict == "no-leak" or (not full_window and d.verdict == "inconclusive")


def run_all(workloads: tuple[Workload, ...], window: float, interval: float, out: Path, *,
            sub_windows: tuple[float, ...] = (), warmup: float | None = None) -> list[Run]:
    """Every workload at the same time (each on its own service), in threads."""
    runs = at_once([w.name for w in workloads], lambda name: run_workload(
        by_name(name), window, interval, out, warmup=warmup, sub_windows=sub_windows))
    return [runs[w.name] for w in workloads]


def at_once(names: list[str], job: Callable[[str], T]) -> dict[str, T]:
    """``job`` for every workload name at the same time (each on its own service); a job that
    fails is left out of the result (its thread's error is printed)."""
    done: dict[str, T] = {}

    def one(name: str) -> None:
        done[name] = job(name)

    threads = [threading.Thread(target=one, args=(n,)) for n in names]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return done
