"""The glue behind ``diagnose``, ``analyze``, ``report`` and ``demo``: collect, inspect, analyse.

The analysis itself (``analyze``) stays free of I/O; this module does the I/O around it: it
opens stored sessions, reads the executable, runs gdb and starts the demo service, with gdb
passed in as a callable so tests can swap a fake. ``cli`` calls it and renders the result.
What the executable and gdb revealed is saved beside the session (``analysis-inputs.json``),
so a later ``analyze`` of the stored session gives the same answer as the live run.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leaksleuth.analyze.allocsite import ExeFacts, exe_facts
from leaksleuth.analyze.diagnosis import Diagnosis, ServiceLost
from leaksleuth.analyze.engine import AnalysisConfig, diagnose_series
from leaksleuth.analyze.outage import service_lost, with_outage
from leaksleuth.analyze.series import reduce_session
from leaksleuth.errors import AnalysisError, InspectError, StoreError, ToolchainError
from leaksleuth.fsutil import atomic_write_text
from leaksleuth.inspect.findings import MapFinding

if TYPE_CHECKING:
    from leaksleuth.collect.session import Session

INPUTS_FILE = "analysis-inputs.json"

MapInspector = Callable[[int], tuple[MapFinding, ...]]


def inspect_pid_maps(pid: int) -> tuple[MapFinding, ...]:
    """gdb map inspection of a live process (``inspect.maps.inspect_maps``); may raise."""
    from leaksleuth.inspect.maps import inspect_maps

    return tuple(r.to_finding() for r in inspect_maps(pid=pid).maps)


@dataclass(frozen=True)
class AnalysisInputs:
    """Inputs beyond the snapshots: executable facts, gdb's maps, notes on what failed."""

    facts: ExeFacts | None = None
    maps: tuple[MapFinding, ...] = ()
    notes: tuple[str, ...] = ()

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "facts": self.facts.to_json_dict() if self.facts else None,
            "maps": [asdict(m) for m in self.maps],
            "notes": list(self.notes),
        }

    @classmethod
    def from_json_dict(cls, doc: dict[str, Any]) -> AnalysisInputs:
        facts = ExeFacts.from_json_dict(doc["facts"]) if doc.get("facts") else None
        maps = tuple(MapFinding(**m) for m in doc.get("maps") or ())
        return cls(facts, maps, tuple(str(n) for n in doc.get("notes") or ()))


def save_inputs(session_dir: Path, inputs: AnalysisInputs) -> None:
    """Write atomically beside the session's index (never touching the evidence itself)."""
    try:
        atomic_write_text(session_dir / INPUTS_FILE, json.dumps(inputs.to_json_dict(), indent=2))
    except OSError as exc:
        raise StoreError(f"{session_dir}: cannot save analysis inputs ({exc.strerror})") from None


def load_inputs(session_dir: Path) -> AnalysisInputs:
    path = session_dir / INPUTS_FILE
    if not path.exists():
        return AnalysisInputs()
    try:
        return AnalysisInputs.from_json_dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise StoreError(f"{path}: unreadable analysis inputs ({exc})") from None


def analyze_session_dir(
    session_dir: Path, *, exe: Path | None = None, config: AnalysisConfig | None = None
) -> Diagnosis:
    """Offline analysis of a stored session (with the inputs saved by a live ``diagnose``)."""
    from leaksleuth.collect.session import open_session

    session = open_session(session_dir)
    if len(session) == 0:
        raise AnalysisError(f"{session_dir}: the session holds no snapshot")
    inputs = load_inputs(Path(session_dir))
    series = reduce_session(session.snapshots())
    facts = exe_facts(series, exe) if exe is not None else inputs.facts
    settings = dict(session.settings)
    if inputs.notes:
        settings["notes"] = list(inputs.notes)
    d = diagnose_series(series, target=session.target, settings=settings,
                        go_version=session.go_version, maps=inputs.maps, facts=facts,
                        cfg=config or AnalysisConfig())
    return with_outage(d, session.ticks, _errors_by_tick(session))


def _errors_by_tick(session: Session) -> dict[int | None, list[str]]:
    errors: dict[int | None, list[str]] = {}
    for e in session.errors:
        errors.setdefault(e.seq, []).append(f"{e.artifact}: {e.message}")
    return errors


def session_loss(session_dir: Path) -> ServiceLost | None:
    """Whether the service of a stored session went away while it was collected."""
    from leaksleuth.collect.session import open_session

    session = open_session(session_dir)
    return service_lost(session.ticks, _errors_by_tick(session))


def session_html(session_dir: Path, diagnosis: Diagnosis) -> str:
    """The HTML report of a diagnosed session: the diagnosis plus the growth flame graph."""
    from leaksleuth.collect.session import open_session
    from leaksleuth.report.flame import growth_flame
    from leaksleuth.report.html import render_html

    flame = growth_flame(list(open_session(session_dir).snapshots()))
    return render_html(diagnosis, flame=flame)


def prepare_inputs(session_dir: Path, *, pid: int | None, exe: Path | None,
                   inspector: MapInspector | None = inspect_pid_maps) -> AnalysisInputs:
    """Read the executable and (with a pid) the maps, then save them with the session.

    A failing gdb does not lose the diagnosis: the failure becomes a note.
    """
    from leaksleuth.collect.session import open_session

    notes: list[str] = []
    if exe is None and pid is not None:
        exe = Path(f"/proc/{pid}/exe")
    facts = None
    if exe is not None:
        if exe.exists():
            series = reduce_session(open_session(session_dir).snapshots())
            facts = exe_facts(series, exe)
        else:
            notes.append(f"executable {exe} not readable; classification from profiles only")
    maps: tuple[MapFinding, ...] = ()
    if pid is not None and inspector is not None:
        try:
            maps = inspector(pid)
        except (InspectError, ImportError) as exc:
            notes.append(f"map inspection failed: {exc}")
    inputs = AnalysisInputs(facts, maps, tuple(notes))
    save_inputs(session_dir, inputs)
    return inputs


@contextmanager
def running_demo(go: Path, source_dir: Path) -> Iterator[tuple[str, int]]:
    """Build and run the bundled demo service on 127.0.0.1; yield (URL, pid); always stop it."""
    from leaksleuth.toolchain import build, start_service, stop_process

    exe = build(source_dir, go)
    try:
        proc, addr = start_service(exe)
    except ToolchainError:
        raise ToolchainError(f"the demo service {exe.name} did not start") from None
    try:
        assert proc.stdout is not None
        # keep draining its output so a chatty service never blocks on a full pipe
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        yield f"http://{addr}", proc.pid
    finally:
        stop_process(proc)
