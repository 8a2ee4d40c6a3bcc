"""The live progress display of ``leaksleuth collect`` (rich), fed by ``on_tick``."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Protocol

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from leaksleuth.textsafe import printable
from leaksleuth.units import human_bytes


class Tick(Protocol):
    """What the display reads from each tick (the collector's ``TickResult`` has it).

    A protocol, so this renderer depends on no collector: the collector calls back with its
    own result type and never imports a display.
    """

    @property
    def done(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def heap_floor(self) -> int | None: ...
    @property
    def goroutine_total(self) -> int | None: ...
    @property
    def errors(self) -> Sequence[str]: ...


class CollectProgress:
    """A bar with the latest heap floor (post-GC HeapAlloc), goroutines and failures."""

    def __init__(self, target: str, planned: int | None, console: Console | None = None,
                 *, gc: bool = True) -> None:
        self.console = console or Console(stderr=True)
        # without a forced GC HeapAlloc includes garbage: it is not a floor, so say so
        self.heap_label = "heap floor" if gc else "heap alloc"
        self.failed = 0
        self._started = False
        self._progress = Progress(
            TextColumn("[bold]collect[/bold] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            console=self.console,
            transient=False,
        )
        # the columns are rich markup: the URL and error texts are escaped into it
        self._task = self._progress.add_task(escape(printable(target)), total=planned,
                                             status="starting")

    def __enter__(self) -> CollectProgress:
        # started by the first tick, so an error from the start is one clean line
        self._started = False
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._started:
            self._progress.stop()

    def update(self, tick: Tick) -> None:
        if not self._started:
            self._started = True
            self._progress.start()
        if tick.status == "failed":
            self.failed += 1
        floor = human_bytes(tick.heap_floor) if tick.heap_floor is not None else "?"
        gor = tick.goroutine_total if tick.goroutine_total is not None else "?"
        status = f"{self.heap_label} {floor}  goroutines {gor}"
        if self.failed:
            status += f"  [red]{self.failed} failed[/red]"
        if tick.errors:
            status += f"  [yellow]last: {escape(printable(tick.errors[-1][:60]))}[/yellow]"
        self._progress.update(self._task, completed=tick.done, status=status)
