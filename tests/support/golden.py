"""The one golden-file harness: an output is compared byte for byte with its committed file
under ``tests/golden/expected``, or, with the update switch, written there.

The switch is ``--update-golden`` or ``LEAKSLEUTH_UPDATE_GOLDEN=1`` (the ``update_golden``
fixture in conftest.py); review the changed files like code before committing them. Pages
are pinned without what is not ours (the vendored library files, the time of generation).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
EXPECTED = GOLDEN / "expected"

_STAMP = re.compile(r" at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")
_DATA = re.compile(r'<script type="application/json" id="leaksleuth-data">(.*?)</script>', re.S)


def check_golden(name: str, actual: bytes, update: bool) -> None:
    """Compare ``actual`` with ``EXPECTED/name`` (or write it there when ``update``); a
    difference fails with the first differing line, not two walls of text."""
    path = EXPECTED / name
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(actual)
        return
    assert path.exists(), f"{path} missing: run with --update-golden once and commit it"
    expected = path.read_bytes()
    if actual == expected:
        return
    a, e = actual.decode(errors="replace"), expected.decode(errors="replace")
    for n, (la, le) in enumerate(zip(a.splitlines(), e.splitlines(), strict=False), 1):
        if la != le:
            pytest.fail(f"{name}:{n} differs from the golden file\n got: {la!r}\n"
                        f"want: {le!r}\n(meant? rerun with --update-golden and review)")
    pytest.fail(f"{name}: {len(actual)} bytes, golden has {len(expected)} "
                "(meant? rerun with --update-golden and review)")


def html_stable(page: str) -> str:
    """A page without the vendored library files (their versions are checked by
    scripts/bundle_assets.py) and its time of generation."""
    from leaksleuth.report import html as html_report

    assets = html_report._assets()
    for i, text in enumerate((*assets.styles, *assets.scripts)):
        page = page.replace(text, f"[asset {i}]")
    return re.sub(r"at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\.", "at [generated] UTC.", page)


def page_digest(html: str) -> str:
    """A flame page as its data (the tree, in full) and a digest of the rest (the template
    and the vendored scripts), without its time of generation: for pages whose tree is large."""
    html = _STAMP.sub("", html)
    m = _DATA.search(html)
    assert m is not None, "no data block in the page"
    rest = html[: m.start(1)] + html[m.end(1) :]
    return f"{m.group(1)}\n--- the page around the data: sha256 " \
           f"{hashlib.sha256(rest.encode()).hexdigest()}\n"
