"""``python -m leaksleuth`` runs the CLI."""

from leaksleuth.cli import run

run()
