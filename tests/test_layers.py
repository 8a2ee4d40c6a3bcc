"""The layers of ARCHITECTURE.md, checked on the imports of every module in src/leaksleuth.

A lower layer never imports a higher one; ``analyze`` does no I/O of its own (no processes,
sockets or HTTP); no layer below ``app`` (nor the shared helpers) imports ``app`` or ``cli``.
Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "leaksleuth"

# layer -> what it may never import (leaksleuth packages/modules, or third-party/stdlib names)
FORBIDDEN: dict[str, set[str]] = {
    "profile": {"collect", "analyze", "inspect", "report", "app", "cli", "toolchain", "demo"},
    "inspect": {"collect", "analyze", "report", "app", "cli"},
    "collect": {"analyze", "report", "app", "cli"},
    "analyze": {"collect", "report", "app", "cli", "toolchain", "demo",
                "!subprocess", "!socket", "!httpx", "!signal", "!threading"},
    "report": {"collect", "app", "cli", "toolchain"},
    # the long-running watcher orchestrates the layers (through app) but is no command
    "watch": {"cli", "toolchain", "demo"},
}


def imports_of(path: Path) -> set[str]:
    """``leaksleuth.X`` imports as ``X`` (first component), others as ``!name``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for n in names:
            parts = n.split(".")
            if parts[0] == "leaksleuth":
                if len(parts) > 1:
                    found.add(parts[1])
            else:
                found.add("!" + parts[0])
    return found


def modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "gdbscripts" not in p.parts)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_module_respects_its_layer(path: Path) -> None:
    rel = path.relative_to(SRC)
    layer = rel.parts[0].removesuffix(".py")
    used = imports_of(path)
    bad = sorted(used & FORBIDDEN.get(layer, set()))
    assert not bad, f"{rel} ({layer} layer) imports {bad}"
    below_app = (layer in FORBIDDEN and layer != "watch") or layer in (
        "errors", "fsutil", "textsafe", "forked", "toolchain", "units")
    if below_app:
        assert not used & {"cli", "app"}, f"{rel}: a layer below app imports app or cli"


def test_the_rules_see_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "m.py"
    bad.write_text("def f():\n    from leaksleuth.collect.store import Store\n"
                   "    import subprocess\n")
    assert {"collect", "!subprocess"} <= imports_of(bad)
