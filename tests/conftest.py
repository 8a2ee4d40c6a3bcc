"""pytest configuration shared by every test module.

Selections: ``python -m pytest`` runs everything (what CI and the README run);
``python -m pytest -m "not slow"`` is the inner loop: no real Go service, gdb or browser.
Every test marked ``go``, ``gdb`` or ``browser`` is also ``slow`` (added here), and a test that
reaches for one of those tools without its marker fails, saying which marker it lacks, so the
fast selection cannot quietly start a Go build.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import markers

SLOW_TOOLS = ("go", "gdb", "browser")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/golden/expected from the current output "
                          "(also LEAKSLEUTH_UPDATE_GOLDEN=1); review the diff before committing")


@pytest.fixture(scope="session")
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden")
                or os.environ.get("LEAKSLEUTH_UPDATE_GOLDEN") == "1")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if any(item.get_closest_marker(m) for m in SLOW_TOOLS) and \
                item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> object:
    markers.current = item
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> object:
    yield
    markers.current = None
