"""Failed ticks and a service lost mid-session: read off the stored ticks, told in the diagnosis.

A service that crashes, is OOM-killed or is stopped while we watch is news in itself, whatever
the trend of the snapshots taken before says. Kept beside the engine (which judges growth):
this only looks at which ticks failed and why, and at whether the service came back as a new
process (its GC count started over).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Protocol

from leaksleuth.analyze.diagnosis import Diagnosis, FailedTick, ServiceLost
from leaksleuth.units import human_duration, human_time


class TickLike(Protocol):
    @property
    def seq(self) -> int: ...

    @property
    def started(self) -> float: ...

    @property
    def status(self) -> str: ...

    @property
    def num_gc(self) -> int | None: ...


def failed_ticks(ticks: Sequence[TickLike],
                 errors: Mapping[int | None, Sequence[str]]) -> tuple[FailedTick, ...]:
    """Every tick that stored nothing, with its errors."""
    return tuple(FailedTick(t.seq, t.started, tuple(errors.get(t.seq, ())))
                 for t in ticks if t.status == "failed")


def service_lost(ticks: Sequence[TickLike],
                 errors: Mapping[int | None, Sequence[str]]) -> ServiceLost | None:
    """The first time the service went away after answering: failed ticks to the end of the
    session, or failed ticks after which it answered as a new process (NumGC fell across the
    gap, as the collector's ``service-restarted`` event records)."""
    last_ok: TickLike | None = None
    run: list[TickLike] = []
    for t in ticks:
        if t.status == "failed":
            if last_ok is not None:
                run.append(t)
            continue
        if run:
            assert last_ok is not None
            fell = (t.num_gc is not None and last_ok.num_gc is not None
                    and t.num_gc < last_ok.num_gc)
            if fell:
                return _loss(last_ok, run, t, errors)
            run = []  # a passing stall: the failed ticks are listed, nothing was lost
        last_ok = t
    if run and last_ok is not None:
        return _loss(last_ok, run, None, errors)
    return None


def _loss(last_ok: TickLike, run: list[TickLike], back: TickLike | None,
          errors: Mapping[int | None, Sequence[str]]) -> ServiceLost:
    first_errors = errors.get(run[0].seq, ())
    return ServiceLost(last_answer=last_ok.started, since=run[0].started,
                       back_at=back.started if back is not None else None,
                       restarted=back is not None, failed_ticks=len(run),
                       reason=first_errors[0] if first_errors else "no response")


def loss_sentence(lost: ServiceLost, window_start: float) -> str:
    """One sentence for the summary: when the service went away, why we think so, and after."""
    into = human_duration(max(0.0, lost.since - window_start))
    since = human_time(lost.since, date=False)
    head = (f"The service stopped answering at {since} ({into} into the session; "
            f"{lost.failed_ticks} tick(s) failed: {lost.reason})")
    if lost.back_at is None:
        return (head + " and did not come back: it crashed, was killed (an OOM kill is "
                "likely if memory was growing) or was stopped.")
    back = human_time(lost.back_at, date=False)
    return (head + f" and came back at {back} as a new process (its GC count "
            "started over): it crashed or was killed and then restarted.")


def with_outage(d: Diagnosis, ticks: Sequence[TickLike],
                errors: Mapping[int | None, Sequence[str]]) -> Diagnosis:
    """``d`` with the failed ticks and, when the service was lost, a summary that says so
    first (the judgement of the snapshots taken follows)."""
    failed = failed_ticks(ticks, errors)
    lost = service_lost(ticks, errors)
    if not failed and lost is None:
        return d
    start = d.window.start or (ticks[0].started if ticks else 0.0)
    summary = f"{loss_sentence(lost, start)} {d.summary}" if lost else d.summary
    return dataclasses.replace(d, failed_ticks=failed, service_lost=lost, summary=summary)
