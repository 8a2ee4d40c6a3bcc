"""Real hostile counterparts for tests: a socket server that accepts and never answers, an
HTTP server that answers every path with one fixed body, and a way to run the CLI as a child
process and read its peak memory."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Ran:
    rc: int
    out: str
    err: str
    peak_mb: float  # the child's peak RSS (its own waited-for children included)
    wall: float


def run_cli(*args: str, timeout: float = 300, cwd: Path | None = None,
            env: dict[str, str] | None = None) -> Ran:
    """``python -m leaksleuth ARGS`` as a child; exit code, output and peak RSS from wait4
    (which covers the child and the descendants it waited for, e.g. ``diff``'s fork)."""
    full = dict(os.environ)
    full.update(env or {})
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "leaksleuth", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=cwd, env=full)
    outs: dict[str, bytes] = {}

    def drain(name: str, stream: object) -> None:
        outs[name] = stream.read()  # type: ignore[attr-defined]

    readers = [threading.Thread(target=drain, args=(n, st), daemon=True)
               for n, st in (("out", proc.stdout), ("err", proc.stderr))]
    for r in readers:
        r.start()
    killer = threading.Timer(timeout, proc.kill)
    killer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        killer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    for r in readers:
        r.join(10)
    assert proc.returncode != -9 or time.monotonic() - t0 < timeout, f"{args}: ran {timeout}s"
    return Ran(proc.returncode, outs.get("out", b"").decode("utf-8", "replace"),
               outs.get("err", b"").decode("utf-8", "replace"), usage.ru_maxrss / 1024,
               time.monotonic() - t0)


def gzip_bomb(path: Path, gib: int = 1) -> Path:
    """A gzip file of ``gib`` GiB of zeros (about 1 MB per GiB), written in pieces."""
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    with open(path, "wb") as f:
        for _ in range(gib << 10):
            f.write(c.compress(zeros))
        f.write(c.flush())
    return path


@dataclass
class HungServer:
    """Accepts connections and never writes a byte; records when each opened and closed."""

    port: int = 0
    opened: list[float] = field(default_factory=list)
    closed: list[float] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def span(self) -> float:
        """Seconds from the first connection to the last one the client gave up on."""
        return max(self.closed) - min(self.opened) if self.opened and self.closed else 0.0


@contextlib.contextmanager
def hung_server() -> Iterator[HungServer]:
    srv = HungServer()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.settimeout(0.2)
    srv.port = sock.getsockname()[1]
    stop = threading.Event()

    def hold(conn: socket.socket) -> None:
        conn.settimeout(0.2)
        with conn:
            while not stop.is_set():
                try:
                    if not conn.recv(65536):  # the client closed: it gave up
                        break
                except TimeoutError:
                    continue
                except OSError:
                    break
        srv.closed.append(time.monotonic())

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            srv.opened.append(time.monotonic())
            threading.Thread(target=hold, args=(conn,), daemon=True).start()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield srv
    finally:
        stop.set()
        t.join(5)
        sock.close()


@contextlib.contextmanager
def body_server(body: bytes, content_type: str = "application/octet-stream") -> Iterator[str]:
    """An HTTP server answering every GET with status 200 and ``body``; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()
