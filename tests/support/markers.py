"""Which test is running, so helpers that start slow tools can insist on the test's marker."""

from __future__ import annotations

import pytest

current: pytest.Item | None = None


def require(marker: str) -> None:
    """Fail the running test unless it is marked ``marker`` (``go``, ``gdb``, ``browser``).

    The fast selection (``-m "not slow"``) relies on those markers; a helper that builds Go,
    attaches gdb or opens Chromium calls this first. Outside a test (collection) it is silent.
    """
    item = current
    if item is not None and item.get_closest_marker(marker) is None:
        pytest.fail(f"{item.nodeid} uses {marker} but is not marked @pytest.mark.{marker}",
                    pytrace=False)
