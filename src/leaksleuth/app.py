"""The glue behind ``diagnose``, ``analyze``, ``report``, ``demo`` and ``watch``: ``diagnose`` is
the one analysis they all (and the tests) call.

The analysis itself (``analyze``) stays free of I/O; this module does the I/O around it: it
opens stored sessions, reads the executable, runs gdb and starts the demo service, with gdb
passed in as a callable so tests can swap a fake. ``cli`` calls it and renders the result.
What the executable and gdb revealed is saved beside the session (``analysis-inputs.json``),
so a later ``analyze`` of the stored session gives the same answer as the live run.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leaksleuth.analyze.allocsite import ExeFacts, exe_facts
from leaksleuth.analyze.diagnosis import Diagnosis, ServiceLost
from leaksleuth.analyze.engine import AnalysisConfig, SessionLike, diagnose_series
from leaksleuth.analyze.outage import service_lost, with_outage
from leaksleuth.analyze.series import SessionSeries, reduce_session
from leaksleuth.errors import (
    AnalysisError,
    InspectError,
    LeaksleuthError,
    StoreError,
    ToolchainError,
)
from leaksleuth.fsutil import atomic_write_text
from leaksleuth.inspect.findings import MapFinding
from leaksleuth.profile.snapshot import Snapshot

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
    """Inputs beyond the snapshots: executable facts, gdb's maps, notes on what failed, and
    the material rate the user set (bytes per second; None: the default rule)."""

    facts: ExeFacts | None = None
    maps: tuple[MapFinding, ...] = ()
    notes: tuple[str, ...] = ()
    material_rate: float | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "facts": self.facts.to_json_dict() if self.facts else None,
            "maps": [asdict(m) for m in self.maps],
            "notes": list(self.notes),
            "material_rate": self.material_rate,
        }

    @classmethod
    def from_json_dict(cls, doc: dict[str, Any]) -> AnalysisInputs:
        facts = ExeFacts.from_json_dict(doc["facts"]) if doc.get("facts") else None
        maps = tuple(MapFinding(**m) for m in doc.get("maps") or ())
        rate = doc.get("material_rate")
        return cls(facts, maps, tuple(str(n) for n in doc.get("notes") or ()),
                   float(rate) if rate is not None else None)


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


@dataclass(frozen=True)
class Analysis:
    """What one analysis produced: the diagnosis, and its HTML page when asked for."""

    diagnosis: Diagnosis
    html: str | None = None


class _ReadOnce:
    """A snapshot loader whose result is kept, for the few snapshots read again after the
    reduction (the flame graph's ends, the executable's raw PCs, held connections)."""

    def __init__(self, load: Callable[[], Any]) -> None:
        self._load = load
        self._done = False
        self._value: Any = None
        self._error: LeaksleuthError | None = None

    def __call__(self) -> Any:
        if not self._done:
            try:
                self._value = self._load()
            except LeaksleuthError as exc:
                self._error = exc
            self._done = True
        if self._error is not None:
            raise self._error
        return self._value


def _read_once(snaps: list[Snapshot], *, first: int, last: int = 3) -> list[Snapshot]:
    """Heap loaders that parse once for the snapshots read again after the reduction: the
    ``last`` few (held connections, the executable's raw PCs) and, for the flame graph, the
    ``first`` few. The others keep theirs, so a long session is never all in memory."""
    n = len(snaps)
    ends = set(range(min(first, n))) | set(range(max(0, n - last), n))
    out = []
    for i, s in enumerate(snaps):
        if i in ends:
            s = replace(s, heap_loader=s.heap_loader and _ReadOnce(s.heap_loader),
                        heap_text_loader=s.heap_text_loader and _ReadOnce(s.heap_text_loader))
        out.append(s)
    return out


def _gather_inputs(series: SessionSeries, *, pid: int | None, exe: Path | None,
                   inspector: MapInspector | None) -> AnalysisInputs:
    """Read the executable and (with a pid) the maps; a failing gdb becomes a note."""
    notes: list[str] = []
    if exe is None and pid is not None:
        from leaksleuth.inspect.elf import running_image

        try:
            exe = running_image(pid)
        except InspectError as exc:
            notes.append(f"{exc}; classification from profiles only")
    facts = None
    if exe is not None:
        if exe.exists():
            facts = exe_facts(series, exe)
        else:
            notes.append(f"executable {exe} not readable; classification from profiles only")
    maps: tuple[MapFinding, ...] = ()
    if pid is not None and inspector is not None:
        try:
            maps = inspector(pid)
        except (InspectError, ImportError) as exc:
            notes.append(f"map inspection failed: {exc}")
    return AnalysisInputs(facts, maps, tuple(notes))


def diagnose(
    source: Path | str | SessionLike | Iterable[Snapshot],
    *,
    live: bool = False,
    pid: int | None = None,
    exe: Path | None = None,
    inspector: MapInspector | None = inspect_pid_maps,
    html: bool = False,
    target: str | None = None,
    settings: Mapping[str, Any] | None = None,
    go_version: str | None = None,
    maps: Sequence[MapFinding] | None = None,
    facts: ExeFacts | None = None,
    config: AnalysisConfig | None = None,
    material_rate: float | None = None,
) -> Analysis:
    """The one analysis: a stored session directory (or any snapshots, in time order) in, a
    ``Diagnosis`` (and with ``html`` its page) out, each stored profile parsed at most once.

    ``live`` (``diagnose``, ``demo``, ``watch``): the process is still there, so read its
    executable (``exe``, or ``/proc/PID/exe``) and, with ``inspector``, its maps now, and save
    them beside the session (``analysis-inputs.json``). Otherwise (``analyze``, ``report``)
    use what a live run saved; ``exe`` still reads an executable given now. ``maps`` and
    ``facts`` override both (tests, replays).

    ``material_rate`` (bytes per second) is the growth that matters, set outright: a
    ``no-leak`` needs the slope's upper bound below it, whatever the heap's size. A live run
    saves it with the inputs, so a later analysis of the session uses it unless given another;
    the diagnosis' ``settings`` record the one used.
    """
    session_dir: Path | None = None
    session: Any = source
    if isinstance(source, (str, Path)):
        from leaksleuth.collect.session import open_session

        session_dir = Path(source)
        session = open_session(session_dir)
        if len(session) == 0:
            raise AnalysisError(f"{session_dir}: the session holds no snapshot")
    snaps_of = getattr(session, "snapshots", None)
    snaps = _read_once(list(snaps_of() if callable(snaps_of) else session),
                       first=3 if html else 0)
    series = reduce_session(snaps)
    inputs = AnalysisInputs()
    if live:
        inputs = replace(_gather_inputs(series, pid=pid, exe=exe, inspector=inspector),
                         material_rate=material_rate)
        if session_dir is not None:
            save_inputs(session_dir, inputs)
    else:
        if session_dir is not None:
            inputs = load_inputs(session_dir)
        if exe is not None:
            inputs = replace(inputs, facts=exe_facts(series, exe))
        if material_rate is not None:
            inputs = replace(inputs, material_rate=material_rate)
    run_settings = dict(settings if settings is not None
                        else getattr(session, "settings", None) or {})
    if inputs.notes:
        run_settings["notes"] = list(inputs.notes)
    cfg = config or AnalysisConfig()
    if inputs.material_rate is not None:
        run_settings["material_rate"] = inputs.material_rate
        # the user's rate replaces both default rules (its floor and the heap's doubling)
        cfg = replace(cfg, material_rate=inputs.material_rate,
                      material_doubling_seconds=math.inf)
    d = diagnose_series(
        series,
        target=target if target is not None else str(getattr(session, "target", "") or ""),
        settings=run_settings,
        go_version=go_version if go_version is not None
        else getattr(session, "go_version", None) or None,
        maps=tuple(maps if maps is not None else inputs.maps),
        facts=facts if facts is not None else inputs.facts,
        cfg=cfg)
    if session_dir is not None:
        d = with_outage(d, session.ticks, _errors_by_tick(session))
    page = None
    if html:
        from leaksleuth.report.flame import growth_flame
        from leaksleuth.report.html import render_html

        page = render_html(d, flame=growth_flame(snaps))
    return Analysis(d, page)


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
