"""One tick of a collection session, as analyses see it.

The collector's ``Session`` yields these in time order; analyses take a sequence of them and
never know where they came from (a live service, a stored session, a test fake). Profiles are
loaded lazily through the ``loader`` callables so a 500-snapshot session is never all in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from leaksleuth.profile.model import GoroutineDump, MemStats, Profile


@dataclass(frozen=True)
class Snapshot:
    seq: int  # 0-based position in the session
    time: float  # Unix seconds when the tick started
    memstats: MemStats | None = None  # from the heap debug=1 trailer or /debug/vars
    goroutine_total: int | None = None
    errors: tuple[str, ...] = ()  # what failed at this tick (recorded, not fatal)
    heap_loader: Callable[[], Profile | None] | None = field(default=None, repr=False)
    goroutines_loader: Callable[[], Profile | None] | None = field(default=None, repr=False)
    goroutine_dump_loader: Callable[[], GoroutineDump | None] | None = field(
        default=None, repr=False
    )
    heap_text_loader: Callable[[], Profile | None] | None = field(default=None, repr=False)

    def heap(self) -> Profile | None:
        """The post-GC heap profile (protobuf), or None when it was not captured."""
        return self.heap_loader() if self.heap_loader else None

    def goroutines(self) -> Profile | None:
        """The goroutine profile (protobuf): count per stack."""
        return self.goroutines_loader() if self.goroutines_loader else None

    def goroutine_dump(self) -> GoroutineDump | None:
        """Every goroutine with state and wait time (debug=2)."""
        return self.goroutine_dump_loader() if self.goroutine_dump_loader else None

    def heap_text(self) -> Profile | None:
        """The heap debug=1 profile: raw PCs include the runtime frames pprof strips."""
        return self.heap_text_loader() if self.heap_text_loader else None
