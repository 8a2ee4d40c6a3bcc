"""``python -m leaksleuth`` runs the CLI (through ``launch``, as the console script does)."""

from leaksleuth.launch import run

run()
