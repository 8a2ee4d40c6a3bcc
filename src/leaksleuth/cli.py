"""Command line: parse arguments, call the library, pick a renderer. Nothing else.

Every command is a thin function here. Errors raised as ``LeaksleuthError`` become one line on
stderr and the class's exit code; nothing else may print a traceback unless
``LEAKSLEUTH_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys

import click

from leaksleuth import __version__
from leaksleuth.errors import LeaksleuthError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="leaksleuth")
def cli() -> None:
    """Find, confirm and explain memory leaks in running Go services."""


# --- profile commands: top, diff, goroutines (issue 2) ---------------------------------------

# --- collection commands: collect, sessions (issue 3) ----------------------------------------

# --- diagnosis commands: diagnose, analyze, demo (issue 4) -----------------------------------

# --- inspection commands: maps (issue 5) ------------------------------------------------------

# --- report commands: report, flame (issue 6) -------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: run the CLI and map errors to one line and an exit code."""
    try:
        cli.main(args=argv, prog_name="leaksleuth", standalone_mode=False)
    except LeaksleuthError as exc:
        click.echo(f"leaksleuth: error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("leaksleuth: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        click.echo(f"leaksleuth: error: {exc.format_message()}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("leaksleuth: interrupted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: still one line unless debugging
        if os.environ.get("LEAKSLEUTH_DEBUG"):
            raise
        click.echo(f"leaksleuth: internal error: {type(exc).__name__}: {exc} "
                   "(set LEAKSLEUTH_DEBUG=1 for a traceback)", err=True)
        return 70
    return 0


if __name__ == "__main__":
    sys.exit(main())
