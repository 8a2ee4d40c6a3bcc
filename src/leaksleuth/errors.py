"""One exception hierarchy; the CLI maps each class to a one-line message and an exit code."""

from __future__ import annotations


class LeaksleuthError(Exception):
    """Base of every error leaksleuth raises on purpose; the CLI exits with ``exit_code``."""

    exit_code = 1


class UsageError(LeaksleuthError):
    """The command line or an option value is wrong."""

    exit_code = 2


class ProfileError(LeaksleuthError):
    """A profile file or response cannot be parsed (bad format, truncated, dangling ids...)."""

    exit_code = 2

    def __init__(self, message: str, source: str | None = None) -> None:
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


class CollectError(LeaksleuthError):
    """Talking to a pprof endpoint failed (unreachable, HTTP error, timeout, size limit)."""

    exit_code = 3


class StoreError(LeaksleuthError):
    """The snapshot store cannot be read or written."""

    exit_code = 4


class OutputError(LeaksleuthError):
    """An output file (HTML report, JSON, archive) cannot be written: the same exit code as
    the store, since both are a file we failed to write."""

    exit_code = 4


class AnalysisError(LeaksleuthError):
    """A session holds too little or inconsistent data for the analysis asked for."""

    exit_code = 5


class InspectError(LeaksleuthError):
    """gdb inspection failed: no gdb, no such PID, not a Go program, ptrace refused, timeout..."""

    exit_code = 6


class ToolchainError(LeaksleuthError):
    """A Go toolchain needed (for the demo) is missing or fails to build."""

    exit_code = 7


class ServiceLostError(LeaksleuthError):
    """The service stopped answering during collection (crashed, killed, restarted). Raised
    after the diagnosis or the collection summary is out, so the exit code says so too."""

    exit_code = 8
