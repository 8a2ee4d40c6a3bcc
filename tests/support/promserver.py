"""Run Debian's real Prometheus for tests and benchmarks.

``PromServer`` starts ``/usr/bin/prometheus`` on a free 127.0.0.1 port with a generated config
(static scrape jobs, short scrape interval) and a temporary TSDB, or an existing TSDB directory
(e.g. one backfilled with ``promtool tsdb create-blocks-from openmetrics``), waits until
``/-/ready`` answers, and stops it. ``set_jobs`` rewrites the scrape config and reloads it.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from leaksleuth.toolchain import stop_process

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"

# job name -> list of (host:port, extra labels)
Jobs = Mapping[str, Sequence[tuple[str, Mapping[str, str]]]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prometheus_or_skip() -> str:
    import pytest

    if shutil.which(PROMETHEUS) is None and shutil.which("prometheus") is None:
        pytest.skip("Debian's prometheus is not installed (apt-get install prometheus)")
    return shutil.which(PROMETHEUS) or str(shutil.which("prometheus"))


def render_config(jobs: Jobs, scrape_interval: str) -> str:
    """Prometheus YAML (written by hand: JSON-style flow values are valid YAML)."""
    lines = ["global:", f"  scrape_interval: {scrape_interval}",
             f"  scrape_timeout: {scrape_interval}", "scrape_configs:"]
    for job, targets in jobs.items():
        lines += [f"  - job_name: {job!r}".replace("'", '"'), "    static_configs:"]
        for addr, labels in targets:
            lab = ", ".join(f'"{k}": "{v}"' for k, v in labels.items())
            lines.append(f'      - targets: ["{addr}"]' + (f"\n        labels: {{{lab}}}"
                                                             if labels else ""))
        if not targets:
            lines.append("      - targets: []")
    return "\n".join(lines) + "\n"


class PromServer:
    """A running Prometheus; ``url`` is its base URL."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, workdir: Path,
                 scrape_interval: str) -> None:
        self.proc = proc
        self.url = url
        self.workdir = workdir
        self.scrape_interval = scrape_interval

    @property
    def config_path(self) -> Path:
        return self.workdir / "prometheus.yml"

    def set_jobs(self, jobs: Jobs) -> None:
        """Replace the scrape jobs and reload the configuration (``/-/reload``)."""
        self.config_path.write_text(render_config(jobs, self.scrape_interval))
        r = httpx.post(f"{self.url}/-/reload", timeout=10)
        r.raise_for_status()

    def wait_targets_up(self, count: int, timeout: float = 90.0) -> None:
        """Until ``count`` active targets report health "up"."""
        deadline = time.monotonic() + timeout
        up = 0
        errors: set[str] = set()
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                doc = httpx.get(f"{self.url}/api/v1/targets", timeout=5).json()
                active = doc["data"]["activeTargets"]
                up = sum(t["health"] == "up" for t in active)
                errors = {f"{t['scrapeUrl']}: {t['lastError']}" for t in active
                          if t["lastError"]}
                if up >= count:
                    return
            time.sleep(0.3)
        raise TimeoutError(f"only {up} of {count} targets up after {timeout}s: {errors}")

    def stop(self) -> None:
        stop_process(self.proc, grace=10.0)  # time to flush its state to disk


@contextmanager
def run_prometheus(
    jobs: Jobs | None = None, *, scrape_interval: str = "1s", tsdb: Path | None = None,
    extra_args: Sequence[str] = (), timeout: float = 60.0,
) -> Iterator[PromServer]:
    """Start Prometheus on a free port; ``tsdb`` reuses a data directory (else a temp one)."""
    exe = shutil.which(PROMETHEUS) or shutil.which("prometheus")
    if exe is None:
        raise RuntimeError("prometheus is not installed")
    workdir = Path(tempfile.mkdtemp(prefix="leaksleuth-prom-"))
    try:
        (workdir / "prometheus.yml").write_text(render_config(jobs or {}, scrape_interval))
        data = tsdb or (workdir / "data")
        for _attempt in range(3):
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            log = (workdir / "prometheus.log").open("wb")
            proc = subprocess.Popen(
                [exe, f"--config.file={workdir / 'prometheus.yml'}",
                 f"--storage.tsdb.path={data}", f"--web.listen-address=127.0.0.1:{port}",
                 "--web.enable-lifecycle", "--storage.tsdb.retention.time=3650d",
                 *extra_args],
                stdout=log, stderr=subprocess.STDOUT)
            log.close()
            srv = PromServer(proc, url, workdir, scrape_interval)
            if _wait_ready(srv, timeout):
                break
            srv.stop()
        else:
            tail = (workdir / "prometheus.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"prometheus did not become ready:\n{tail}")
        try:
            yield srv
        finally:
            srv.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_ready(srv: PromServer, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if srv.proc.poll() is not None:
            return False  # e.g. the port was taken between picking and binding
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{srv.url}/-/ready", timeout=2).status_code == 200:
                return True
        time.sleep(0.2)
    return False
