"""Sending alerts: Alertmanager's API v2 and/or a plain JSON webhook.

Alertmanager identifies an alert by its label set, so a firing alert is re-sent with the same
labels every ``resend_every`` with ``endsAt`` a few re-send periods ahead (if the watcher dies,
Alertmanager resolves it by itself, as it does for Prometheus), and a resolved alert is sent
once more with ``endsAt`` = now. When a label changes while firing (the verdict became known),
the old label set is resolved so it does not linger.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from leaksleuth import __version__
from leaksleuth.errors import LeaksleuthError

SCHEMA = "leaksleuth.alert/1"


class NotifyError(LeaksleuthError):
    """An alert receiver could not be reached or refused the alerts."""


@dataclass(frozen=True)
class AlertMessage:
    """One alert as every receiver gets it."""

    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    ends_at: float | None  # None: firing with no end announced
    generator_url: str = ""
    status: str = "firing"  # or "resolved"
    extra: dict[str, Any] = field(default_factory=dict)  # webhook only: figures, evidence path


def rfc3339(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def alertmanager_payload(alerts: Sequence[AlertMessage]) -> list[dict[str, Any]]:
    """The body of ``POST /api/v2/alerts`` (postableAlerts)."""
    out = []
    for a in alerts:
        item: dict[str, Any] = {"labels": a.labels, "annotations": a.annotations,
                                "startsAt": rfc3339(a.starts_at)}
        if a.ends_at is not None:
            item["endsAt"] = rfc3339(a.ends_at)
        if a.generator_url:
            item["generatorURL"] = a.generator_url
        out.append(item)
    return out


def webhook_payload(alerts: Sequence[AlertMessage]) -> dict[str, Any]:
    """A self-describing JSON document for receivers that are not Alertmanager."""
    return {
        "schema": SCHEMA, "sender": f"leaksleuth {__version__}",
        "alerts": [{"status": a.status, "labels": a.labels, "annotations": a.annotations,
                    "startsAt": rfc3339(a.starts_at),
                    "endsAt": rfc3339(a.ends_at) if a.ends_at is not None else None,
                    "generatorURL": a.generator_url, **a.extra} for a in alerts],
    }


class Notifier(Protocol):
    def send(self, alerts: Sequence[AlertMessage]) -> None: ...


class _Poster:
    def __init__(self, url: str, timeout: float, client: httpx.Client | None) -> None:
        self.url = url
        self._client = client or httpx.Client(timeout=timeout, headers={
            "User-Agent": f"leaksleuth/{__version__}"})

    def post(self, body: Any) -> None:
        try:
            resp = self._client.post(self.url, content=json.dumps(body),
                                     headers={"Content-Type": "application/json"})
        except httpx.HTTPError as exc:
            raise NotifyError(f"{self.url}: {type(exc).__name__}: {exc}") from None
        if resp.status_code >= 300:
            raise NotifyError(f"{self.url}: HTTP {resp.status_code} {resp.text[:200].strip()}")

    def close(self) -> None:
        self._client.close()


class AlertmanagerNotifier(_Poster):
    """``POST {url}/api/v2/alerts``."""

    def __init__(self, url: str, timeout: float = 10.0,
                 client: httpx.Client | None = None) -> None:
        super().__init__(url.rstrip("/") + "/api/v2/alerts", timeout, client)

    def send(self, alerts: Sequence[AlertMessage]) -> None:
        if alerts:
            self.post(alertmanager_payload(alerts))


class WebhookNotifier(_Poster):
    """``POST {url}`` with ``webhook_payload``."""

    def send(self, alerts: Sequence[AlertMessage]) -> None:
        if alerts:
            self.post(webhook_payload(alerts))


class FanOut:
    """Every configured receiver; one failing does not keep the others from getting the
    alerts, and the failures come back as one error."""

    def __init__(self, notifiers: Mapping[str, Notifier]) -> None:
        self.notifiers = dict(notifiers)

    def send(self, alerts: Sequence[AlertMessage]) -> None:
        errors = []
        for name, n in self.notifiers.items():
            try:
                n.send(alerts)
            except NotifyError as exc:
                errors.append(f"{name}: {exc}")
        if errors:
            raise NotifyError("; ".join(errors))

    def close(self) -> None:
        for n in self.notifiers.values():
            close = getattr(n, "close", None)
            if close is not None:
                close()
