"""``leaksleuth collect / sessions / export / import`` as a user runs them, and secret hygiene."""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from leaksleuth.collect.collector import CollectConfig, collect
from leaksleuth.collect.session import open_session
from leaksleuth.collect.store import INDEX_NAME
from support.goservice import GO_VERSIONS, build_or_skip, run_go

SVC = Path(__file__).resolve().parent / "goprogs" / "svc"
TOKEN = "tok-9f8e7d6c5b4a-SECRET"
HEADER_SECRET = "hdr-1a2b3c4d-SECRET"


@pytest.fixture(scope="module")
def svc_exe() -> Path:
    return build_or_skip(SVC, GO_VERSIONS[0])


def run_cli(*args: str, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "leaksleuth.cli", *args], capture_output=True,
                          text=True, env=full, timeout=timeout, check=False)


def all_bytes_under(root: Path) -> bytes:
    """Every byte stored under ``root``, with gzip members also decompressed."""
    out = []
    for p in root.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            out.append(data)
            if data[:2] == b"\x1f\x8b":
                out.append(gzip.decompress(data))
    return b"\n".join(out)


@pytest.mark.go
def test_cli_collect_with_token_and_header_leaves_no_secret(svc_exe: Path,
                                                             tmp_path: Path) -> None:
    root = tmp_path / "sessions"
    with run_go(svc_exe, "-token", TOKEN, "-header", f"X-Api-Key={HEADER_SECRET}") as svc:
        # without credentials the service refuses everything: an error from the start
        denied = run_cli("collect", svc.url, "--count", "1", "--out", str(root), "-q")
        assert denied.returncode == 3 and denied.stderr.count("\n") == 1
        assert "HTTP 401" in denied.stderr and not root.exists()
        res = run_cli("collect", svc.url, "--count", "2", "--interval", "200ms", "--out",
                      str(root), "--token-env", "LS_TOKEN", "--header",
                      f"X-Api-Key: {HEADER_SECRET}", "--json", env={"LS_TOKEN": TOKEN})
        assert res.returncode == 0, res.stderr
        info = json.loads(res.stdout)
        # the header value can come from the environment too
        res2 = run_cli("collect", svc.url, "--count", "1", "--out", str(root), "--json",
                       "--token-env", "LS_TOKEN", "--header-env", "X-Api-Key=LS_HDR",
                       env={"LS_TOKEN": TOKEN, "LS_HDR": HEADER_SECRET})
        assert res2.returncode == 0, res2.stderr
        assert json.loads(res2.stdout)["errors"] == 0
    assert info["snapshots"] == 2 and info["errors"] == 0
    s = open_session(info["path"])
    assert s.settings["header_names"] == ["X-Api-Key"] and s.settings["token_env"] == "LS_TOKEN"
    listing = run_cli("sessions", str(root))
    arc = run_cli("export", info["path"], "-o", str(tmp_path / "e.tar.gz"))
    assert arc.returncode == 0
    stored = all_bytes_under(root) + all_bytes_under(tmp_path)
    outputs = (denied.stdout + denied.stderr + res.stdout + res.stderr + res2.stdout + res2.stderr
               + listing.stdout
               + listing.stderr + arc.stdout + arc.stderr)
    for secret in (TOKEN, HEADER_SECRET):
        assert secret.encode() not in stored
        assert secret not in outputs
    assert b"X-Api-Key" in stored  # the header name is kept: resuming needs it


@pytest.mark.go
def test_secrets_never_reach_logs_or_errors(svc_exe: Path, tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LS_TOKEN", TOKEN)
    caplog.set_level(logging.DEBUG)
    with run_go(svc_exe, "-token", TOKEN) as svc:
        import httpx

        httpx.get(f"{svc.url}/admin/fault",
                  params={"path": "/debug/pprof/goroutine", "mode": "500"})
        info = collect(CollectConfig(
            url=svc.url, interval=0.2, count=2, out_dir=tmp_path / "s", token_env="LS_TOKEN",
            headers=(("X-Other", HEADER_SECRET),), retries=1, backoff=0.01))
    s = open_session(info.path)
    assert any(e.http_status == 500 for e in s.errors)
    assert "retry" in caplog.text  # the retries were logged ...
    assert TOKEN not in caplog.text and HEADER_SECRET not in caplog.text  # ... without secrets
    assert TOKEN.encode() not in all_bytes_under(tmp_path)
    assert HEADER_SECRET.encode() not in all_bytes_under(tmp_path)


def _wait_for_snapshots(root: Path, n: int, timeout: float = 30.0) -> None:
    """Poll the session index under ``root`` (read-only) until it holds ``n`` snapshots."""
    deadline = time.monotonic() + timeout
    got = 0
    while got < n and time.monotonic() < deadline:
        time.sleep(0.1)
        for idx in root.glob(f"*/{INDEX_NAME}"):
            with sqlite3.connect(f"file:{idx}?mode=ro", uri=True) as c, \
                    contextlib.suppress(sqlite3.OperationalError):  # being created
                got = c.execute("SELECT count(*) FROM snapshots").fetchone()[0]


@pytest.mark.go
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_stops_after_the_current_snapshot(svc_exe: Path, tmp_path: Path,
                                                 sig: signal.Signals) -> None:
    root = tmp_path / "s"
    with run_go(svc_exe) as svc:
        proc = subprocess.Popen(
            [sys.executable, "-m", "leaksleuth.cli", "collect", svc.url, "--interval", "200ms",
             "--out", str(root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _wait_for_snapshots(root, 2)
            proc.send_signal(sig)
            _out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, err
    [path] = [p.parent for p in root.glob(f"*/{INDEX_NAME}")]
    assert f"interrupted: {len(open_session(path))} snapshot(s) in {path}" in err
    assert "Traceback" not in err
    s = open_session(path)
    assert s.status == "interrupted" and len(s) >= 2
    assert s.ended is not None and s.ended >= s.started
    assert "heap floor" in err  # the progress bar showed the floor and goroutines


@pytest.mark.go
def test_sessions_lists_target_span_count_and_go_version(svc_exe: Path,
                                                        tmp_path: Path) -> None:
    root = tmp_path / "s"
    with run_go(svc_exe) as svc:
        res = run_cli("collect", svc.url + "/debug/pprof/", "--count", "2", "--interval",
                      "100ms", "--out", str(root), "-q")
        assert res.returncode == 0, res.stderr
    listed = run_cli("sessions", str(root), "--json")
    [row] = json.loads(listed.stdout)
    assert row["target"] == svc.url and row["snapshots"] == 2 and row["go_version"] == "go1.23.9"
    assert row["ended"] > row["started"] and row["status"] == "finished"
    table = run_cli("sessions", str(root))
    assert svc.url in table.stdout and "go1.23.9" in table.stdout and row["id"] in table.stdout
    # export and import through the CLI
    arc = run_cli("export", row["path"], "-o", str(tmp_path / "x.tar.gz"))
    imp = run_cli("import", arc.stdout.strip(), "--out", str(tmp_path / "other"))
    assert imp.returncode == 0, imp.stderr
    assert len(open_session(imp.stdout.strip())) == 2


@pytest.mark.parametrize(("args", "code", "message"), [
    (["collect", "http://127.0.0.1:9", "--interval", "5 parsecs"], 2, "not a duration"),
    (["collect", "ftp://x"], 2, "not an http(s) URL"),
    (["collect", "http://127.0.0.1:9", "--count", "2", "--duration", "1m"], 2, "not both"),
    (["collect", "http://127.0.0.1:9", "--token-env", "LS_NOPE_UNSET"], 2, "LS_NOPE_UNSET"),
    (["collect", "http://127.0.0.1:9", "--count", "1", "--retries", "0"], 3, "cannot collect"),
    (["collect", "--resume", "/nonexistent-session"], 4, "no such session"),
    (["collect"], 2, "missing URL"),
])
def test_cli_errors_are_one_line(args: list[str], code: int, message: str,
                                 tmp_path: Path) -> None:
    res = run_cli(*args, *([] if "--resume" in args else ["--out", str(tmp_path / "s")]))
    assert res.returncode == code, res.stderr
    assert message in res.stderr and res.stderr.count("\n") == 1, res.stderr
    assert not (tmp_path / "s").exists()


@pytest.mark.go
def test_a_service_echoing_the_token_gets_it_masked(svc_exe: Path, tmp_path: Path) -> None:
    """The service's own /debug/vars cmdline holds the token: the stored copy is masked."""
    root = tmp_path / "s"
    with run_go(svc_exe, "-token", TOKEN) as svc:
        res = run_cli("collect", svc.url, "--count", "1", "--out", str(root), "-q",
                      "--token-env", "LS_TOKEN", "--json", env={"LS_TOKEN": TOKEN})
    assert res.returncode == 0, res.stderr
    s = open_session(json.loads(res.stdout)["path"])
    vars_doc = json.loads(s.files(0)["vars"].path.read_bytes())
    assert "*" * len(TOKEN) in vars_doc["cmdline"]  # still valid JSON, same shape
    assert any(e.kind == "redacted" and "vars" in e.detail for e in s.events)
    assert TOKEN.encode() not in all_bytes_under(root)


@pytest.mark.go
def test_unwritable_sessions_directory_is_a_clear_error(svc_exe: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the sessions directory should be")
    with run_go(svc_exe) as svc:
        res = run_cli("collect", svc.url, "--count", "1", "--out", str(blocker / "s"), "-q")
    assert res.returncode == 4
    assert "cannot create a session under" in res.stderr and res.stderr.count("\n") == 1
    assert "Traceback" not in res.stderr


@pytest.mark.go
def test_duration_bounds_the_collection(svc_exe: Path, tmp_path: Path) -> None:
    with run_go(svc_exe) as svc:
        start = time.monotonic()
        res = run_cli("collect", svc.url, "--duration", "1s", "--interval", "250ms", "--out",
                      str(tmp_path / "s"), "-q", "--json", "--no-gc")
        took = time.monotonic() - start
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    # four slots in 1 s; on a loaded machine a slow tick may skip one, and says so
    assert info["ticks"] + info["skipped_ticks"] == 4 and info["ticks"] >= 2
    assert info["snapshots"] == info["ticks"] and not info["interrupted"]
    assert took < 20
    s = open_session(info["path"])
    assert s.settings["duration"] == 1.0 and s.settings["gc"] is False
    assert 0.5 <= s.ticks[-1].started - s.ticks[0].started < 1.0


@pytest.mark.go
def test_rejected_responses_are_summarised_at_the_end(svc_exe: Path, tmp_path: Path) -> None:
    import httpx

    with run_go(svc_exe) as svc:
        httpx.get(f"{svc.url}/admin/fault", params={"path": "/debug/pprof/heap", "mode": "html"})
        res = run_cli("collect", svc.url, "--count", "2", "--interval", "100ms", "--out",
                      str(tmp_path / "s"), "-q")
    assert res.returncode == 0, res.stderr
    assert "4 error(s) recorded" in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("  ")]
    assert len(lines) == 2  # heap and heap_text, each said once
    assert all("an HTML page, not a profile" in ln for ln in lines)


@pytest.mark.go
def test_sigterm_stops_diagnose_after_the_current_snapshot_then_analyses(
        svc_exe: Path, tmp_path: Path) -> None:
    """diagnose under systemd/kubectl: SIGTERM keeps what was collected and still analyses."""
    root = tmp_path / "s"
    with run_go(svc_exe) as svc:
        proc = subprocess.Popen(
            [sys.executable, "-m", "leaksleuth.cli", "diagnose", svc.url, "--interval", "200ms",
             "--duration", "60s", "--out", str(root), "--json", str(tmp_path / "d.json")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _wait_for_snapshots(root, 3)
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, err
    assert "stopping after the current snapshot, then analysing" in err
    [path] = [p.parent for p in root.glob(f"*/{INDEX_NAME}")]
    doc = json.loads((tmp_path / "d.json").read_text())
    assert doc["window"]["snapshots"] == len(open_session(path)) >= 3
    assert doc["verdict"] in ("leak", "no-leak", "inconclusive")
    assert doc["verdict"].upper() in out and "Traceback" not in err
