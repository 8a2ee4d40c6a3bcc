"""The ``leaksleuth`` program's first step: start decompressing the files that `top`, `diff`
and `flame` read, on a second core, before the CLI (click) and numpy are imported (and for
them, a numpy without OpenBLAS threads), then run the CLI. Only plain invocations are
recognised here (the files as the only arguments, and `--html OUT` for `flame`); the
commands themselves start whatever this did not.

Kept free of click and numpy, whose imports are what the decompression overlaps.
"""

from __future__ import annotations

import os
import sys

_FILES = {"top": 1, "diff": 2, "flame": 1}
# Both files of a diff this small (gzipped, together) are decompressed ahead: they are done
# while the imports run. A larger BASE is decompressed by the forked child that reads it.
_BOTH_AHEAD_BYTES = 16 << 20


def files_to_read(argv: list[str]) -> list[str]:
    """The files a plain `top FILE`, `diff BASE NEW` or `flame FILE --html OUT` reads, in the
    order to decompress them; [] for anything else."""
    if not argv or argv[0] not in _FILES:
        return []
    args = argv[1:]
    if argv[0] == "flame":  # FILE --html OUT
        if len(args) != 3 or args[1] != "--html":
            return []
        args = args[:1]
    if len(args) != _FILES[argv[0]] or any(a.startswith("-") for a in args):
        return []
    if argv[0] != "diff":
        return args
    base, new = args
    try:
        small = os.path.getsize(base) + os.path.getsize(new) < _BOTH_AHEAD_BYTES
    except OSError:
        small = False
    return [new, base] if small else [new]


def run() -> None:
    """The console script: decompression started, then the CLI."""
    files = files_to_read(sys.argv[1:])
    if files:
        # these commands make no BLAS call: without its thread pool, numpy's OpenBLAS starts
        # in less time (`import numpy`, median of 12 runs: 0.08 s of CPU and 0.085 s of wall
        # time against 0.11-0.13 s and 0.15 s)
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        from leaksleuth.profile.gunzip import gunzip_ahead

        gunzip_ahead(files)
    from leaksleuth.cli import run as cli_run

    cli_run()
