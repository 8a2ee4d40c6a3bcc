"""Run gdb in batch mode on a live PID or a core file, and always leave the target running.

gdb runs as ``gdb -batch -nx`` (no user init files, Go's ``runtime-gdb.py`` never auto-loaded)
with a script from ``gdbscripts/`` that prints one JSON document between markers. gdb is a side
effect, so it comes in through the small ``GdbBackend`` interface; tests swap in fakes and the
real-process tests cover ``SubprocessGdb``.

Safety: gdb gets its own session (a terminal Ctrl-C reaches only us), a time limit kills it, and
whatever happens afterwards ``ensure_running`` checks ``/proc/PID/task/*/stat`` and sends
SIGCONT if gdb left the target stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from leaksleuth.errors import InspectError
from leaksleuth.inspect.elf import check_alive

BEGIN = "@@LEAKSLEUTH-JSON-BEGIN@@"
END = "@@LEAKSLEUTH-JSON-END@@"
GCORE_HINT = "on production, prefer `gcore PID` then `leaksleuth maps --core CORE --exe BIN`"


@dataclass(frozen=True)
class GdbRun:
    """What one gdb run produced."""

    stdout: str
    stderr: str
    returncode: int | None  # None when it was killed on timeout
    wall_seconds: float
    timed_out: bool = False


class GdbBackend(Protocol):
    """Runs gdb; the real one is ``SubprocessGdb``."""

    def run(self, argv: list[str], env: dict[str, str], timeout: float) -> GdbRun: ...


class SubprocessGdb:
    """The real backend: a gdb subprocess in its own session, killed on timeout or Ctrl-C."""

    def run(self, argv: list[str], env: dict[str, str], timeout: float) -> GdbRun:
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    stdin=subprocess.DEVNULL, text=True, errors="replace", env=env,
                                    start_new_session=True)
        except FileNotFoundError:
            raise InspectError(f"gdb not found at {argv[0]}; install gdb (apt-get install gdb) "
                               "or set LEAKSLEUTH_GDB") from None
        except PermissionError:
            raise InspectError(f"cannot run gdb at {argv[0]} (permission denied)") from None
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, err = proc.communicate()
            return GdbRun(out, err, None, time.monotonic() - t0, timed_out=True)
        except BaseException:  # Ctrl-C or anything else: gdb must not outlive us
            _kill_group(proc)
            with contextlib.suppress(Exception):
                proc.communicate(timeout=5)
            raise
        return GdbRun(out, err, proc.returncode, time.monotonic() - t0)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


def find_gdb(gdb_path: str | Path | None = None) -> str:
    """The gdb to run: the argument, ``$LEAKSLEUTH_GDB``, or ``gdb`` on PATH."""
    cand = str(gdb_path) if gdb_path else os.environ.get("LEAKSLEUTH_GDB", "")
    if cand:
        if os.sep in cand:
            if not os.access(cand, os.X_OK):
                raise InspectError(f"gdb not found at {cand}; install gdb (apt-get install gdb)")
            return cand
        found = shutil.which(cand)
    else:
        found = shutil.which("gdb")
    if not found:
        raise InspectError("gdb not found on PATH; install gdb (apt-get install gdb) or set "
                           "LEAKSLEUTH_GDB to its path")
    return found


# ---------------------------------------------------------------------------------------------
# process state


def process_states(pid: int) -> dict[int, str]:
    """State letter of every thread of ``pid`` (R, S, D, T, t, Z...); empty if it is gone."""
    states: dict[int, str] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return states
    for tid in tids:
        try:
            raw = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue
        states[int(tid)] = raw[raw.rfind(")") + 2 :].split(" ", 1)[0]
    return states


def is_stopped(pid: int) -> bool:
    return any(s in ("T", "t") for s in process_states(pid).values())


def tracer_of(pid: int) -> int:
    """PID of the process tracing ``pid`` (0 when none)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("TracerPid:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def ensure_running(pid: int, *, settle: float = 0.5) -> bool:
    """Resume ``pid`` if it is left stopped; True when a SIGCONT had to be sent.

    A traced-stop (``t``) clears only when the tracer detaches; we wait ``settle`` seconds for
    that, then SIGCONT a group-stop (``T``) left behind by an interrupted attach.
    """
    if not process_states(pid):
        return False
    deadline = time.monotonic() + settle
    while is_stopped(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if not is_stopped(pid):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGCONT)
    deadline = time.monotonic() + settle
    while is_stopped(pid) and tracer_of(pid) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    return True


def check_pid(pid: int) -> None:
    """A clear error for a PID that does not exist or cannot be inspected by ptrace."""
    check_alive(pid)
    tracer = tracer_of(pid)
    if tracer:
        name = ""
        with contextlib.suppress(OSError):
            name = Path(f"/proc/{tracer}/comm").read_text().strip()
        who = f"PID {tracer} ({name})" if name else f"PID {tracer}"
        raise InspectError(f"ptrace refused: PID {pid} is already traced by {who}; detach it "
                           f"first, or {GCORE_HINT}")


def script_path(name: str) -> Path:
    """A script shipped as package data under ``inspect/gdbscripts``."""
    return Path(str(resources.files("leaksleuth.inspect") / "gdbscripts" / name))


@dataclass(frozen=True)
class ScriptResult:
    """The validated-as-JSON document a gdb script printed, with the runner's timings."""

    doc: dict[str, Any]
    wall_seconds: float
    resumed: bool  # True when the runner had to SIGCONT the target


def run_script(script: str, params: dict[str, Any], *, pid: int | None, timeout: float,
               gdb_path: str | Path | None = None, backend: GdbBackend | None = None
               ) -> ScriptResult:
    """Run ``gdbscripts/<script>`` with ``params``; return its JSON document.

    Raises ``InspectError`` for a missing gdb, a timeout, a gdb crash or a script error. With
    ``pid`` set, the process is checked and resumed if needed however the run ends.
    """
    gdb = find_gdb(gdb_path)
    backend = backend or SubprocessGdb()
    argv = [gdb, "-batch", "-nx", "-nh",
            "-iex", "set auto-load python-scripts off",
            "-iex", "set auto-load safe-path /nonexistent",
            "-x", str(script_path(script))]
    env = dict(os.environ)
    env["LEAKSLEUTH_GDB_PARAMS"] = json.dumps(params)
    env.pop("PYTHONPATH", None)  # gdb's embedded Python must not pick up our virtualenv
    env.pop("PYTHONHOME", None)
    was_stopped = pid is not None and is_stopped(pid)
    resumed = False
    try:
        run = backend.run(argv, env, timeout)
    finally:
        if pid is not None and not was_stopped:
            resumed = ensure_running(pid)
    where = f"PID {pid}" if pid is not None else "the core"
    if run.timed_out:
        left = f" and PID {pid} was left running" if pid is not None else ""
        raise InspectError(f"gdb did not finish within {timeout:g}s reading {where}; it was "
                           f"killed{left} (raise --timeout, or {GCORE_HINT})")
    doc = extract_document(run.stdout)
    if doc is None:
        last = (run.stderr.strip().splitlines() or ["no output"])[-1]
        raise InspectError(f"gdb failed (exit {run.returncode}) on {where}: {last}")
    return ScriptResult(doc, run.wall_seconds, resumed)


def extract_document(stdout: str) -> dict[str, Any] | None:
    """The JSON object between the markers, or None when there is none or it is not JSON."""
    start = stdout.rfind(BEGIN)
    if start < 0:
        return None
    end = stdout.find(END, start)
    if end < 0:
        return None
    try:
        doc = json.loads(stdout[start + len(BEGIN) : end])
    except json.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None
