"""The ``leaksleuth`` program's first step: start decompressing the files that `top`, `diff`
and `flame` read, on a second core, before the CLI (click) and numpy are imported (and for
them, a numpy without OpenBLAS threads), then run the CLI; a plain `top`/`diff` whose output
is piped runs without click. Only plain invocations are recognised here (the files as the
only arguments, and `--html OUT` for `flame`); the commands themselves start whatever this
did not.

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


def plain_table(argv: list[str]) -> str | None:
    """The output of a plain `top FILE` or `diff BASE NEW` (every option at its default, the
    output piped), computed without importing click: the same library calls as the commands
    of cli.py. None when anything goes wrong before a byte is written: the CLI then runs the
    command again and reports the problem in its usual way."""
    from io import StringIO

    try:
        from leaksleuth.profile import summary
        from leaksleuth.report import tables

        files = argv[1:]
        result = (summary.top_file(files[0]) if argv[0] == "top"
                  else summary.diff_files(files[0], files[1]))
        out = StringIO()
        tables.render(result, out, files=files, diff=argv[0] == "diff", terminal=False)
    except Exception:
        return None
    return out.getvalue()


def run() -> None:
    """The console script: decompression started, then a plain piped `top`/`diff` without
    click (its import costs ~0.03 s of CPU, a tenth of a `diff` of two 100k-sample profiles),
    anything else through the CLI."""
    argv = sys.argv[1:]
    files = files_to_read(argv)
    if files:
        # these commands make no BLAS call: without its thread pool, numpy's OpenBLAS starts
        # in less time (`import numpy`, median of 12 runs: 0.08 s of CPU and 0.085 s of wall
        # time against 0.11-0.13 s and 0.15 s)
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        from leaksleuth.profile.gunzip import gunzip_ahead

        gunzip_ahead(files)
        if argv[0] in ("top", "diff") and not sys.stdout.isatty():
            try:
                text = plain_table(argv)
                if text is not None:
                    sys.stdout.write(text)
                    sys.stdout.flush()
            except BrokenPipeError:
                text = ""
            except KeyboardInterrupt:
                sys.stderr.write("leaksleuth: interrupted\n")
                sys.stderr.flush()
                os._exit(130)
            if text is not None:
                os._exit(0)  # nothing to clean up (as cli.run for these commands)
    from leaksleuth.cli import run as cli_run

    cli_run()
