"""A thin client for the Prometheus HTTP API (also answered by Thanos, Mimir, VictoriaMetrics).

Only what fleet screening needs: the scrape targets and ``query_range``. Range queries are
split into time chunks when one answer would exceed the server's 11,000 points per series, or
when it would hold more points than ``points_budget`` (a JSON answer becomes several Python
objects per point while it is decoded, so the budget bounds the watcher's peak memory).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
from numpy.typing import NDArray

from leaksleuth.errors import CollectError

FloatArray = NDArray[np.float64]

MAX_POINTS_PER_SERIES = 11_000  # Prometheus refuses a range query resolving to more points
DEFAULT_POINTS_BUDGET = 250_000  # points (all series together) decoded from one answer


class PromError(CollectError):
    """The Prometheus API was unreachable or answered with an error or garbage."""


@dataclass(frozen=True)
class ScrapeTarget:
    """One active scrape target as ``/api/v1/targets`` lists it."""

    labels: Mapping[str, str]  # after relabelling: job, instance, ... (what its series carry)
    scrape_url: str
    health: str  # "up", "down" or "unknown"
    discovered_labels: Mapping[str, str] = field(default_factory=dict)
    scrape_pool: str = ""
    last_error: str = ""


@dataclass(frozen=True)
class RangeSeries:
    """One series of a range query: its labels (``__name__`` dropped by functions) and points."""

    labels: Mapping[str, str]
    times: FloatArray  # unix seconds, ascending
    values: FloatArray


def _key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


class PromAPI:
    """Blocking client, safe to share between threads; ``requests`` counts the HTTP requests
    made (for cost figures)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        points_budget: int = DEFAULT_POINTS_BUDGET,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.points_budget = max(1, points_budget)
        self.requests = 0
        self._lock = threading.Lock()
        self._client = httpx.Client(
            base_url=self.base_url, timeout=timeout, headers=dict(headers or {}),
            transport=transport)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> PromAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -------------------------------------------------------------------------
    def _call(self, method: str, path: str, params: Mapping[str, str]) -> Any:
        with self._lock:
            self.requests += 1
        try:
            if method == "POST":
                resp = self._client.post(path, data=dict(params))
            else:
                resp = self._client.get(path, params=dict(params))
        except httpx.HTTPError as exc:
            raise PromError(f"Prometheus at {self.base_url} unreachable: {exc}") from None
        try:
            doc = json.loads(resp.content)
        except ValueError:
            raise PromError(
                f"Prometheus at {self.base_url}{path}: HTTP {resp.status_code}, not JSON"
            ) from None
        if not isinstance(doc, dict) or doc.get("status") != "success":
            err = doc.get("error", "") if isinstance(doc, dict) else ""
            raise PromError(
                f"Prometheus at {self.base_url}{path}: HTTP {resp.status_code}: "
                f"{err or 'no status=success'}")
        return doc.get("data")

    # -- API -------------------------------------------------------------------------------
    def targets(self) -> list[ScrapeTarget]:
        """The active scrape targets, in the server's order."""
        data = self._call("GET", "/api/v1/targets", {"state": "active"})
        try:
            active = data["activeTargets"]
            return [
                ScrapeTarget(
                    labels=dict(t.get("labels") or {}),
                    scrape_url=str(t.get("scrapeUrl", "")),
                    health=str(t.get("health", "unknown")),
                    discovered_labels=dict(t.get("discoveredLabels") or {}),
                    scrape_pool=str(t.get("scrapePool", "")),
                    last_error=str(t.get("lastError", "")),
                )
                for t in active
            ]
        except (TypeError, KeyError, AttributeError) as exc:
            raise PromError(f"Prometheus at {self.base_url}: bad targets answer ({exc})") from None

    def query(self, query: str, time: float | None = None) -> list[tuple[dict[str, str], float]]:
        """An instant query: (labels, value) per series of a vector result."""
        params = {"query": query}
        if time is not None:
            params["time"] = _fmt(time)
        data = self._call("POST", "/api/v1/query", params)
        try:
            if data["resultType"] != "vector":
                raise PromError(f"instant query {query!r}: {data['resultType']}, not a vector")
            return [(dict(r["metric"]), float(r["value"][1])) for r in data["result"]]
        except (TypeError, KeyError, IndexError, ValueError) as exc:
            raise PromError(f"instant query {query!r}: bad answer ({exc})") from None

    def query_range(
        self, query: str, start: float, end: float, step: float, *,
        expected_series: int | None = None,
    ) -> list[RangeSeries]:
        """``query`` evaluated every ``step`` seconds from ``start`` to ``end``.

        ``expected_series`` (when known) lets the time range be split so one answer stays
        within ``points_budget``; the 11,000-points-per-series limit is always respected.
        """
        if step <= 0 or end < start:
            raise PromError(f"bad range: start={start} end={end} step={step}")
        per_chunk = MAX_POINTS_PER_SERIES
        if expected_series:
            per_chunk = max(2, min(per_chunk, self.points_budget // max(1, expected_series)))
        parts: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], list[FloatArray],
                                                      list[FloatArray]]] = {}
        for c_start, c_end in _chunks(start, end, step, per_chunk):
            data = self._call("POST", "/api/v1/query_range", {
                "query": query, "start": _fmt(c_start), "end": _fmt(c_end), "step": _fmt(step)})
            for labels, t, v in _matrix(data, query):
                k = _key(labels)
                slot = parts.get(k)
                if slot is None:
                    parts[k] = (labels, [t], [v])
                else:
                    slot[1].append(t)
                    slot[2].append(v)
            del data
        out = []
        for labels, ts, vs in parts.values():
            t = np.concatenate(ts) if len(ts) > 1 else ts[0]
            v = np.concatenate(vs) if len(vs) > 1 else vs[0]
            out.append(RangeSeries(labels, t, v))
        return out


def _fmt(x: float) -> str:
    return repr(round(float(x), 3))


def _chunks(start: float, end: float, step: float, per_chunk: int) -> Iterator[tuple[float, float]]:
    """Consecutive [a, b] ranges on the step grid of ``start``, ``per_chunk`` points each."""
    n = math.floor((end - start) / step + 1e-9) + 1
    i = 0
    while i < n:
        j = min(n, i + per_chunk)
        yield start + i * step, start + (j - 1) * step
        i = j


def _matrix(data: Any, query: str) -> Iterator[tuple[dict[str, str], FloatArray, FloatArray]]:
    try:
        if data["resultType"] != "matrix":
            raise PromError(f"range query {query!r}: {data['resultType']}, not a matrix")
        for r in data["result"]:
            pts = r["values"]
            t = np.fromiter((p[0] for p in pts), dtype=np.float64, count=len(pts))
            v = np.fromiter((float(p[1]) for p in pts), dtype=np.float64, count=len(pts))
            yield dict(r["metric"]), t, v
    except (TypeError, KeyError, IndexError, ValueError) as exc:
        raise PromError(f"range query {query!r}: bad answer ({exc})") from None
