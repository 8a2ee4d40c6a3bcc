"""Run tests/goprogs/goroutinegen: known goroutine groups and allocations, then quiet.

It runs with ``GOGC=off`` and forces two GCs before READY, so no GC cycle completes while a
test takes its profiles: heap and goroutine profiles fetched one after another describe the
same moment.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from support.goservice import TESTS_DIR, GoService, build_or_skip, run_go

SRC = TESTS_DIR / "goprogs" / "goroutinegen"


@contextmanager
def run_goroutinegen(version: str) -> Iterator[tuple[GoService, dict[str, int]]]:
    """Yield the running program and its ground truth: goroutines per own function."""
    exe = build_or_skip(SRC, version)
    with run_go(exe, env={"GOGC": "off"}) as svc:
        groups: dict[str, int] = {}
        svc.wait_line("READY", timeout=30)
        for line in list(svc.lines):
            if line.startswith("GROUP "):
                _, name, count = line.split()
                groups[name] = int(count)
        yield svc, groups
