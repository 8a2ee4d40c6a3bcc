"""The watcher's HTTP side (stdlib ``http.server`` in a thread): ``/metrics`` for Prometheus,
``POST /alertmanager`` for an Alertmanager ``webhook_configs`` route (the user's own memory
alert triggers the same evidence capture), and the evidence bundles under ``/evidence/`` so the
links in our alerts open the report.
"""

from __future__ import annotations

import json
import mimetypes
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST

from leaksleuth.errors import UsageError

MAX_BODY = 1 << 20  # Alertmanager batches are small; refuse anything larger


def firing_label_sets(doc: Any) -> list[dict[str, str]]:
    """The label sets of the firing alerts in an Alertmanager webhook payload (version 4)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("alerts"), list):
        raise ValueError("not an Alertmanager webhook payload (no alerts list)")
    out = []
    for a in doc["alerts"]:
        if not isinstance(a, dict) or a.get("status", "firing") != "firing":
            continue
        labels = {**(doc.get("commonLabels") or {}), **(a.get("labels") or {})}
        out.append({str(k): str(v) for k, v in labels.items()})
    return out


class WatchServer:
    """Serves until ``close``; ``on_alert`` gets each firing label set and returns the name of
    the target it asked a capture for (or None when no target matches)."""

    def __init__(self, listen: str, *, metrics: Callable[[], bytes],
                 on_alert: Callable[[dict[str, str]], str | None],
                 evidence_root: Path) -> None:
        host, _, port = listen.rpartition(":")
        render_metrics = metrics
        server_self = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "leaksleuth-watch"

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the watcher reports through its metrics, not an access log

            def _send(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8"
                      ) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                if path == "/metrics":
                    self._send(200, render_metrics(), CONTENT_TYPE_LATEST)
                elif path in ("/", "/healthz", "/-/healthy"):
                    self._send(200, b"leaksleuth watch: ok\n")
                elif path.startswith("/evidence/"):
                    server_self._evidence(self, unquote(path[len("/evidence/"):]))
                else:
                    self._send(404, b"not found\n")

            do_HEAD = do_GET

            def do_POST(self) -> None:
                path = urlsplit(self.path).path
                if path not in ("/alertmanager", "/webhook"):
                    self._send(404, b"not found\n")
                    return
                try:
                    n = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    n = -1
                if not 0 < n <= MAX_BODY:
                    self._send(400, b"a JSON body with a Content-Length up to 1 MiB\n")
                    return
                try:
                    sets = firing_label_sets(json.loads(self.rfile.read(n)))
                except ValueError as exc:
                    self._send(400, f"{exc}\n".encode())
                    return
                matched = [t for t in (on_alert(s) for s in sets) if t]
                self._send(200, json.dumps({"captures": matched}).encode() + b"\n",
                           "application/json")

        try:
            self.httpd = ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler)
        except OSError as exc:
            raise UsageError(f"server.listen {listen}: cannot listen ({exc.strerror})") from None
        self.httpd.daemon_threads = True
        self.evidence_root = Path(evidence_root).resolve()
        bound_host = self.httpd.server_address[0]
        if isinstance(bound_host, bytes):
            bound_host = bound_host.decode()
        self.address = f"{bound_host}:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="watch-http",
                                        daemon=True)
        self._thread.start()

    def _evidence(self, h: BaseHTTPRequestHandler, rel: str) -> None:
        target = (self.evidence_root / rel).resolve()
        inside = target.is_relative_to(self.evidence_root) and not any(
            part.startswith(".") for part in target.relative_to(self.evidence_root).parts) \
            if target.is_relative_to(self.evidence_root) else False
        if not inside or not target.is_file():
            body = b"not found\n"
            h.send_response(404)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        data = target.read_bytes()
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)
