"""HTTP access to a Go service's net/http/pprof endpoint (httpx underneath).

What we add over httpx: a streamed response-size limit, bounded retries with backoff for the
errors worth retrying, a time budget per request that its retries share (``timeout``: no
request, retries and backoff included, outlives it), and one error class whose message never
carries a header or token value (only the method, path and what went wrong), so errors can be
stored and printed safely.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import httpx

from leaksleuth import __version__
from leaksleuth.errors import CollectError

log = logging.getLogger("leaksleuth.collect")

FailureKind = Literal["unreachable", "timeout", "http", "too-large", "tls", "protocol", "invalid"]


class FetchError(CollectError):
    """One request failed; ``kind`` says how, ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, kind: FailureKind, status: int | None = None) -> None:
        super().__init__(message)
        self.kind: FailureKind = kind
        self.status = status

    @property
    def retryable(self) -> bool:
        return self.kind in ("unreachable", "timeout", "protocol") or (
            self.kind == "http" and self.status is not None and self.status >= 500
        )


@dataclass(frozen=True)
class Response:
    """A complete response body as received, byte for byte."""

    request: str  # path and query, e.g. "/debug/pprof/heap?gc=1" (no host, no secrets)
    status: int
    body: bytes
    content_type: str
    elapsed: float  # seconds, last attempt
    attempts: int


def redact_url(url: str) -> str:
    """The URL without user:password (they are credentials; never stored or printed)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


# The profiles net/http/pprof serves under its base path: a URL ending in one of them is a
# pasted profile URL, whose directory is the base.
PROFILE_NAMES = frozenset({"heap", "goroutine", "allocs", "block", "mutex", "threadcreate",
                           "profile", "trace", "cmdline", "symbol"})


def pprof_path(url: str, base_path: str | None = None) -> str:
    """Where pprof is mounted on the service at ``url``: ``base_path`` when given; else the
    URL's path (``/debug/pprof`` when it has none), its directory when it names one profile.
    Always ``/a/b`` form; "" for the root."""
    if base_path is not None:
        base = base_path
    else:
        base = urlsplit(url).path.rstrip("/") or "/debug/pprof"
        head, _, last = base.rpartition("/")
        if last in PROFILE_NAMES:
            base = head
    return "/" + base.strip("/") if base.strip("/") else ""


def tls_verify(verify: bool, ca: Path | None) -> bool | ssl.SSLContext:
    """httpx's ``verify``: on by default, a context trusting ``ca`` when given."""
    if ca is not None:
        try:
            return ssl.create_default_context(cafile=str(ca))
        except (OSError, ssl.SSLError) as exc:
            raise CollectError(f"cannot use CA file {ca}: {exc}") from None
    return verify


class PprofClient:
    """GETs paths of one service with limits; ``get`` returns a ``Response`` or raises
    ``FetchError``. Pass ``transport`` to swap the network for a fake in tests.

    ``timeout`` is one request's whole budget: every attempt gets what is left of it, and a
    retry (up to ``retries``, for refused or broken connections and 5xx answers) is made only
    while some is left, so a hung endpoint costs ``timeout`` once, not once per attempt."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Sequence[tuple[str, str]] = (),
        token: str | None = None,
        verify: bool | ssl.SSLContext = True,
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.25,
        max_bytes: int = 256 << 20,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # identity: the body we store is what the service wrote, not a proxy's re-encoding
        hdrs = {"User-Agent": f"leaksleuth/{__version__}", "Accept-Encoding": "identity"}
        hdrs.update(dict(headers))
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        parts = urlsplit(base_url)
        self.origin = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_bytes = max_bytes
        self._sleep = sleep
        self._client = httpx.Client(
            headers=hdrs,
            verify=verify,
            timeout=httpx.Timeout(timeout),
            follow_redirects=True,
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> PprofClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str, params: Mapping[str, str] | None = None,
            budget: float | None = None) -> Response:
        """GET ``path`` (absolute, from the origin), retrying transient failures, all within
        ``timeout`` seconds (or ``budget``, when the caller has less time left than that)."""
        request = path + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")
        allowed = self.timeout if budget is None else max(0.0, min(self.timeout, budget))
        end = time.monotonic() + allowed
        attempt = 0
        while True:
            attempt += 1
            left = end - time.monotonic()
            if left <= 0:
                raise FetchError(
                    f"GET {request}: no time left ({round(allowed, 1):g}s budget spent)",
                    "timeout")
            try:
                return self._once(path, params, request, attempt, left, allowed)
            except FetchError as exc:
                if not exc.retryable or attempt > self.retries:
                    raise
                delay = min(30.0, self.backoff * (2 ** (attempt - 1)))
                if time.monotonic() + delay >= end:
                    raise  # no time for another try: the error as it is
                log.debug("GET %s failed (%s); retry %d in %.2fs", request, exc, attempt, delay)
                self._sleep(delay)

    def _once(
        self, path: str, params: Mapping[str, str] | None, request: str, attempt: int,
        left: float, allowed: float,
    ) -> Response:
        start = time.monotonic()
        deadline = start + left
        try:
            with self._client.stream("GET", self.origin + path, params=params,
                                     timeout=httpx.Timeout(left)) as resp:
                declared = resp.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.max_bytes:
                    raise FetchError(
                        f"GET {request}: response of {int(declared)} bytes exceeds the "
                        f"{self.max_bytes}-byte limit", "too-large", resp.status_code)
                chunks: list[bytes] = []
                size = 0
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise FetchError(
                            f"GET {request}: response exceeds the {self.max_bytes}-byte limit "
                            "(aborted)", "too-large", resp.status_code)
                    if time.monotonic() > deadline:
                        raise FetchError(
                            f"GET {request}: body still arriving after {round(allowed, 1):g}s "
                            "(timeout)", "timeout", resp.status_code)
                    chunks.append(chunk)
                body = b"".join(chunks)
                if resp.status_code != 200:
                    raise FetchError(
                        f"GET {request}: HTTP {resp.status_code} {resp.reason_phrase}".rstrip(),
                        "http", resp.status_code)
                return Response(
                    request=request,
                    status=resp.status_code,
                    body=body,
                    content_type=resp.headers.get("content-type", ""),
                    elapsed=time.monotonic() - start,
                    attempts=attempt,
                )
        except FetchError:
            raise
        except httpx.TimeoutException:
            raise FetchError(f"GET {request}: no answer within {round(allowed, 1):g}s (timeout)",
                             "timeout") from None
        except httpx.ConnectError as exc:
            reason = _reason(exc)
            low = reason.lower()
            kind: FailureKind = "tls" if "certificate" in low or "ssl" in low else "unreachable"
            raise FetchError(f"GET {request}: cannot connect to {self.origin} ({reason})",
                             kind) from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise FetchError(f"GET {request}: connection broken ({_reason(exc)})",
                             "protocol") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"GET {request}: {type(exc).__name__} ({_reason(exc)})",
                             "protocol") from None


def _reason(exc: BaseException) -> str:
    """The innermost reason, short; exception text from httpx never contains header values."""
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]
