"""leaksleuth: find, confirm and explain memory leaks in running Go services."""

__version__ = "0.1.0"
