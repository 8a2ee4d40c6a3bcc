"""A soak of ``leaksleuth watch``: a fleet of real Go services under Debian's Prometheus and
Alertmanager, the watcher run as the real command, targets killed and restarted, the watcher
itself killed with SIGKILL mid-run and restarted on the same state.

Shared by ``benchmarks/watch_soak.py`` (20 targets, 10 minutes) and the short variant in
``tests/test_watch_soak.py``. What it checks and returns: the watcher never crashed (its
process alive until we stopped it, no traceback on stderr), its RSS over time, every bundle
completed before the SIGKILL still complete afterwards, and the firing alert resumed (same
``startsAt`` in Alertmanager after the restart).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from leaksleuth.toolchain import start_service, stop_process
from support.alertmanager import null_config, run_alertmanager
from support.promserver import free_port, run_prometheus


@dataclass
class SoakResult:
    rss_mib: list[tuple[float, float, int]] = field(default_factory=list)  # (s, MiB, life)
    target_kills: int = 0
    target_restarts: int = 0
    watcher_kills: int = 0
    bundles_before_kill: list[str] = field(default_factory=list)
    bundles_lost: list[str] = field(default_factory=list)
    bundles_incomplete: list[str] = field(default_factory=list)
    bundles_at_end: int = 0
    evidence_bytes_at_end: int = 0
    resumed_starts_at: bool | None = None
    alerts_at_end: list[dict[str, Any]] = field(default_factory=list)
    metrics_at_end: dict[str, float] = field(default_factory=dict)
    crashes: list[str] = field(default_factory=list)
    exit_codes: list[int] = field(default_factory=list)
    leak_targets: list[str] = field(default_factory=list)


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def complete_bundles(evidence: Path) -> dict[str, Path]:
    """Bundles that are complete on disk: a manifest, and every file it names readable."""
    out = {}
    if not evidence.is_dir():
        return out
    for d in evidence.iterdir():
        if d.name.startswith(".") or not (d / "bundle.json").is_file():
            continue
        out[d.name] = d
    return out


def bundle_ok(d: Path) -> bool:
    try:
        m = json.loads((d / "bundle.json").read_text())
        if m.get("diagnosis"):
            json.loads((d / m["diagnosis"]).read_text())
        if m.get("report") and "</html>" not in (d / m["report"]).read_text()[-200:].lower():
            return False
        return bool(m.get("session")) and (d / m["session"] / "index.sqlite").is_file()
    except (OSError, ValueError, KeyError):
        return False


class _Fleet:
    """Go services on fixed ports of their own choosing, killable and restartable."""

    def __init__(self, exe: Path, n: int, leakers: int, leak_rate: int) -> None:
        self.exe = exe
        self.specs: list[tuple[str, list[str], dict[str, str]]] = []
        self.procs: list[subprocess.Popen[str] | None] = []
        self.addrs: list[str] = []
        for i in range(n):
            args = ["-garbage", "4000000", "-working", str(2 << 20)]
            env = dict(os.environ)
            if i < leakers:
                args += ["-leak", str(leak_rate)]
                env["GOMEMLIMIT"] = "400MiB"
            self.specs.append((f"svc{i}", args, env))
            proc, addr = start_service(exe, *args, env=env)
            _drain(proc)
            self.procs.append(proc)
            self.addrs.append(addr)

    def kill(self, i: int) -> None:
        p = self.procs[i]
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()
        self.procs[i] = None

    def restart(self, i: int) -> bool:
        _, args, env = self.specs[i]
        try:
            proc, _ = start_service(self.exe, *args, "-addr", self.addrs[i], env=env)
        except Exception:
            return False  # the port may still be in TIME_WAIT; the next chaos step retries
        _drain(proc)
        self.procs[i] = proc
        return True

    def stop(self) -> None:
        for p in self.procs:
            if p is not None:
                stop_process(p)


def _drain(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    threading.Thread(target=proc.stdout.read, daemon=True).start()


def _config(work: Path, prom: str, am: str, listen: str, *, window: str, budget: str) -> Path:
    cfg = work / "watch.toml"
    cfg.write_text(f"""
[prometheus]
url = "{prom}"
selector = '{{job="soak"}}'

[schedule]
screen_every = "5s"
window = "{window}"
step = "2s"
diagnose_flagged_every = "60s"
diagnose_every = "3m"
diagnosis_duration = "6s"
diagnosis_interval = "1s"
concurrency = 2
backoff_min = "5s"
backoff_max = "60s"

[alerts]
for = "6s"
clear_for = "2m"
resend_every = "5s"
[alerts.warning]
growth_bytes_per_second = "100KiB"
confidence = 0.3
[alerts.critical]
time_to_exhaustion = "1h"
confidence = 0.6
[alerts.alertmanager]
url = "{am}"

[evidence]
dir = "evidence"
max_bytes = "{budget}"

[state]
path = "state.sqlite"

[server]
listen = "{listen}"
""")
    return cfg


class _Watcher:
    def __init__(self, cfg: Path, work: Path) -> None:
        self.log = (work / f"watcher-{time.time():.0f}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "leaksleuth", "watch", "--config", str(cfg), "-v"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=work,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.path = Path(self.log.name)

    def alive(self) -> bool:
        return self.proc.poll() is None


def run_soak(exe: Path, work: Path, *, targets: int, leakers: int, seconds: float,
             kill_watcher_at: float, chaos_every: float, window: str = "60s",
             leak_rate: int = 300_000, budget: str = "40MiB", rss_every: float = 15.0,
             say: Callable[[str], None] = print, keep: Path | None = None) -> SoakResult:
    res = SoakResult()
    rng = random.Random(1)
    with ExitStack() as stack:
        fleet = _Fleet(exe, targets, leakers, leak_rate)
        stack.callback(fleet.stop)
        res.leak_targets = [f"soak/{fleet.addrs[i]}" for i in range(leakers)]
        prom = stack.enter_context(run_prometheus(
            {"soak": [(a, {}) for a in fleet.addrs]}, scrape_interval="2s"))
        prom.wait_targets_up(targets, timeout=60)
        am = stack.enter_context(run_alertmanager(null_config()))
        listen = f"127.0.0.1:{free_port()}"
        cfg = _config(work, prom.url, am.url, listen, window=window, budget=budget)
        w = _Watcher(cfg, work)
        watchers = [w]

        def stop_all() -> None:
            for x in watchers:
                if x.alive():
                    x.proc.kill()
                    x.proc.wait()
        stack.callback(stop_all)
        t0 = time.monotonic()
        next_rss = 0.0
        next_chaos = chaos_every
        dead: dict[int, float] = {}  # target index -> when to restart
        killed_watcher = False
        starts_before: dict[tuple[str, str], str] = {}
        while (now := time.monotonic() - t0) < seconds:
            if not w.alive():
                res.crashes.append(f"watcher exited with {w.proc.returncode} at {now:.0f}s")
                w = _Watcher(cfg, work)
                watchers.append(w)
            if now >= next_rss:
                r = rss_mib(w.proc.pid)
                if r is not None:
                    res.rss_mib.append((now, r, len(watchers)))
                    say(f"  t={now:5.0f}s watcher RSS {r:6.1f} MiB, "
                        f"bundles {len(complete_bundles(work / 'evidence'))}")
                next_rss = now + rss_every
            if now >= next_chaos:
                # never the leakers: they must keep leaking long enough to be caught
                i = rng.randrange(leakers, targets)
                if i not in dead:
                    fleet.kill(i)
                    res.target_kills += 1
                    dead[i] = now + rng.uniform(5, 20)
                next_chaos = now + chaos_every
            for i, when in list(dead.items()):
                if now >= when and fleet.restart(i):
                    res.target_restarts += 1
                    del dead[i]
            if not killed_watcher and now >= kill_watcher_at and complete_bundles(
                    work / "evidence") and _firing(am):
                before = complete_bundles(work / "evidence")
                res.bundles_before_kill = sorted(before)
                starts_before = {(a["labels"]["target"], a["labels"]["severity"]): a["startsAt"]
                                 for a in _firing(am)}
                os.kill(w.proc.pid, signal.SIGKILL)
                w.proc.wait()
                res.watcher_kills += 1
                killed_watcher = True
                say(f"  t={now:5.0f}s kill -9 of the watcher with {len(before)} bundles "
                    f"and {len(starts_before)} firing alerts; restarting it")
                w = _Watcher(cfg, work)
                watchers.append(w)
                time.sleep(5)
                after = complete_bundles(work / "evidence")
                res.bundles_lost = [b for b in before if b not in after]
                res.bundles_incomplete = [b for b in before if b in after
                                          and not bundle_ok(after[b])]
            time.sleep(1.0)
        if killed_watcher:
            now_firing = {(a["labels"]["target"], a["labels"]["severity"]): a["startsAt"]
                          for a in _firing(am)}
            common = set(now_firing) & set(starts_before)
            res.resumed_starts_at = bool(common) and all(
                now_firing[k] == starts_before[k] for k in common)
        res.alerts_at_end = _firing(am)
        with contextlib.suppress(httpx.HTTPError):
            text = httpx.get(f"http://{listen}/metrics", timeout=10).text
            from prometheus_client.parser import text_string_to_metric_families

            for fam in text_string_to_metric_families(text):
                for s in fam.samples:
                    if "target" not in s.labels:
                        key = s.name + ("{" + ",".join(f"{k}={v}" for k, v in
                                                       sorted(s.labels.items())) + "}"
                                        if s.labels else "")
                        res.metrics_at_end[key] = s.value
        # a clean stop: SIGTERM, exit code 0
        w.proc.send_signal(signal.SIGTERM)
        try:
            res.exit_codes.append(w.proc.wait(90))
        except subprocess.TimeoutExpired:
            res.crashes.append("watcher did not stop within 90 s of SIGTERM")
        final = complete_bundles(work / "evidence")
        res.bundles_at_end = len(final)
        if keep is not None and final:
            import shutil

            newest = max(final.values(), key=lambda d: d.name)
            shutil.copytree(newest, keep / newest.name, dirs_exist_ok=True)
        res.evidence_bytes_at_end = sum(
            f.stat().st_size for d in final.values() for f in d.rglob("*") if f.is_file())
        for x in watchers:
            x.log.close()
            text = x.path.read_text(errors="replace")
            if "Traceback" in text or "internal error" in text:
                res.crashes.append(f"{x.path.name}: " + text[-1500:])
    return res


def _firing(am: Any) -> list[dict[str, Any]]:
    try:
        return [a for a in am.alerts(alertname="GoMemoryLeak")
                if a.get("status", {}).get("state") == "active"]
    except httpx.HTTPError:
        return []
