"""Run Debian's real Alertmanager (and Pushgateway) on free 127.0.0.1 ports for tests.

Clustering is off (``--cluster.listen-address=``) so parallel test runs never gossip.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from leaksleuth.toolchain import stop_process
from support.promserver import free_port

ALERTMANAGER = "prometheus-alertmanager"
PUSHGATEWAY = "prometheus-pushgateway"


def tool_or_skip(name: str) -> str:
    import pytest

    exe = shutil.which(f"/usr/bin/{name}") or shutil.which(name)
    if exe is None:
        pytest.skip(f"Debian's {name} is not installed (apt-get install {name})")
    return exe


def null_config(webhook_url: str | None = None, *, own_alertname: str = "GoMemoryLeak") -> str:
    """A route where leaksleuth's own alerts go nowhere and, with ``webhook_url``, every other
    alert (the user's memory alert) goes to that webhook."""
    lines = [
        "route:",
        "  receiver: others",
        "  group_by: ['alertname', 'instance']",
        "  group_wait: 1s", "  group_interval: 1s", "  repeat_interval: 1h",
        "  routes:",
        f"    - matchers: ['alertname=\"{own_alertname}\"']",
        "      receiver: blackhole",
        "receivers:",
        "  - name: blackhole",
        "  - name: others",
    ]
    if webhook_url:
        lines += ["    webhook_configs:", f"      - url: '{webhook_url}'",
                  "        send_resolved: false"]
    return "\n".join(lines) + "\n"


class Alertmanager:
    def __init__(self, proc: subprocess.Popen[bytes], url: str, workdir: Path) -> None:
        self.proc = proc
        self.url = url
        self.workdir = workdir

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts`` (active, silenced and inhibited ones alike)."""
        params = [("filter", f'{k}="{v}"') for k, v in filters.items()]
        r = httpx.get(f"{self.url}/api/v2/alerts", params=params, timeout=10)
        r.raise_for_status()
        out: list[dict[str, Any]] = r.json()
        return out

    def post(self, alerts: list[dict[str, Any]]) -> None:
        httpx.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=10).raise_for_status()

    def stop(self) -> None:
        stop_process(self.proc, grace=10.0)  # time to flush its state to disk


@contextmanager
def run_alertmanager(config: str) -> Iterator[Alertmanager]:
    exe = tool_or_skip(ALERTMANAGER)
    workdir = Path(tempfile.mkdtemp(prefix="leaksleuth-am-"))
    try:
        (workdir / "alertmanager.yml").write_text(config)
        for _attempt in range(3):
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            log = (workdir / "alertmanager.log").open("wb")
            proc = subprocess.Popen(
                [exe, f"--config.file={workdir / 'alertmanager.yml'}",
                 f"--storage.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                 "--cluster.listen-address="], stdout=log, stderr=subprocess.STDOUT)
            log.close()
            am = Alertmanager(proc, url, workdir)
            if _wait(proc, f"{url}/-/ready"):
                break
            am.stop()
        else:
            tail = (workdir / "alertmanager.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"alertmanager did not become ready:\n{tail}")
        try:
            yield am
        finally:
            am.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def run_pushgateway() -> Iterator[str]:
    """Debian's Pushgateway (a third-party Go service exporting go_memstats_*); yields
    its host:port."""
    exe = tool_or_skip(PUSHGATEWAY)
    for _attempt in range(3):
        port = free_port()
        proc = subprocess.Popen([exe, f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if _wait(proc, f"http://127.0.0.1:{port}/-/ready"):
            break
        proc.kill()
        proc.wait()
    else:
        raise RuntimeError("pushgateway did not start")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait(proc: subprocess.Popen[bytes], url: str, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        time.sleep(0.2)
    return False
