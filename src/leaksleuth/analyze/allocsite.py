"""The runtime frames pprof hides, recovered from heap ``debug=1`` raw PCs and the executable.

pprof and the ``#`` lines of ``debug=1`` drop the leading ``runtime.*`` frames, so a map insert
and an append are both charged to the user function. The ``@`` line still lists every PC; with
the executable's ``.gopclntab`` (``inspect.pclntab.PcTable``, stripped executables included)
the hidden ones get their names back: ``runtime.hashGrow``/``internal/runtime/maps.newTable``
(a map), ``runtime.growslice`` (a slice).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leaksleuth.analyze.series import SessionSeries, load_safely
from leaksleuth.errors import LeaksleuthError
from leaksleuth.inspect.classify import classify_heap_stacks
from leaksleuth.inspect.pclntab import PcTable
from leaksleuth.profile.frames import is_stdlib, site_function
from leaksleuth.profile.model import Profile


def pclntab_runtime_frames(
    heap_texts: Sequence[Profile], table: PcTable
) -> dict[str, tuple[str, ...]]:
    """Per own frame: the hidden runtime frames of its samples, those holding most bytes first.

    Resolved by the inspect layer's ``.gopclntab`` classifier (works on stripped executables
    and recovers the frame the profiler's skip count drops). Weights are in-use bytes plus a
    quarter of allocated bytes: a map's old bucket arrays are freed after growth, and sampling
    may have missed the live one, but the allocation records of earlier growth remain. Several
    snapshots give sampling several chances.
    """
    weight: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for prof in heap_texts:
        for sc in classify_heap_stacks(table.exe, prof, table).samples:
            if sc is None:
                continue
            site = site_function(tuple(sc.stack))
            for f in sc.runtime_frames:
                weight[site][f] += sc.inuse_bytes + sc.alloc_bytes / 4
    return {
        site: tuple(n for n, _ in sorted(w.items(), key=lambda kv: -kv[1]))
        for site, w in weight.items()
    }


RUNTIME_CALL_PREFIXES = ("runtime.", "internal/runtime/", "sync.", "internal/sync.")


@dataclass(frozen=True)
class ExeFacts:
    """What the executable says about each own function of a session.

    ``runtime_frames``: hidden runtime frames of its sampled allocations, most bytes first;
    ``calls``: the runtime (and sync) functions its code calls. Saved beside a session so that
    offline analysis gives the same answer as the live one after the process is gone.
    """

    runtime_frames: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    calls: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    exe: str = ""

    def to_json_dict(self) -> dict[str, Any]:
        return {"exe": self.exe, "runtime_frames": {k: list(v) for k, v in
                                                     self.runtime_frames.items()},
                "calls": {k: list(v) for k, v in self.calls.items()}}

    @classmethod
    def from_json_dict(cls, doc: Mapping[str, Any]) -> ExeFacts:
        def table(key: str) -> dict[str, tuple[str, ...]]:
            raw = doc.get(key) or {}
            if not isinstance(raw, dict):
                raise ValueError(f"{key} must be an object")
            return {str(k): tuple(str(x) for x in v) for k, v in raw.items()}

        return cls(table("runtime_frames"), table("calls"), str(doc.get("exe", "")))


def exe_facts(series: SessionSeries, exe: Path) -> ExeFacts:
    """Read the executable once for every own allocation site of ``series``.

    Its ``.gopclntab`` (``PcTable``) serves both questions, so stripped executables count
    too; no facts when ``exe`` cannot be read or is not a Go 1.18+ executable.
    """
    try:
        table = PcTable(exe)
    except LeaksleuthError:
        return ExeFacts(exe=str(exe))
    if not table:
        return ExeFacts(exe=str(exe))
    texts = [t for t in (load_safely(s.heap_text)[0] for s in series.last) if t is not None]
    frames = pclntab_runtime_frames(texts, table)
    calls = {
        fn: tuple(sorted(c for c in table.calls(fn) if c.startswith(RUNTIME_CALL_PREFIXES)))
        for fn in series.sites
        if not is_stdlib(fn)
    }
    return ExeFacts(frames, calls, str(exe))
