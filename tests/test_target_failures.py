"""When the target fails: it is killed mid-session, it hangs (accepts and never answers), or
the collecting process itself is killed. Real processes throughout: a Go service, a socket
server that never answers, ``kill -9``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from leaksleuth.collect.session import TickRow, open_session
from leaksleuth.collect.store import INDEX_NAME, check_integrity
from support.fakes import snapshots_indexed
from support.goservice import GO_VERSIONS, build_or_skip, run_go
from support.hostile import hung_server, run_cli

SVC = Path(__file__).resolve().parent / "goprogs" / "svc"


@pytest.fixture(scope="module")
def svc_exe() -> Path:
    return build_or_skip(SVC, GO_VERSIONS[-1])


def _start_diagnose(url: str, root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "leaksleuth", "diagnose", url, "-q",
                             "--out", str(root), "--json", str(root / "d.json"), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_ticks(root: Path, n: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90
    while snapshots_indexed(root) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "collection did not get going"
        time.sleep(0.05)


# --- the target dies mid-session ------------------------------------------------------------


@pytest.mark.go
@pytest.mark.slow
def test_service_killed_mid_diagnose_is_the_news(svc_exe: Path, tmp_path: Path) -> None:
    """SIGKILL (what the OOM killer sends) 4 ticks into `diagnose --duration 10`: the verdict
    text, the JSON and the exit code say the service went away; every snapshot is kept."""
    root = tmp_path / "s"
    root.mkdir()
    with run_go(svc_exe, "-leak", "2000000") as svc:
        proc = _start_diagnose(svc.url, root, "--duration", "10", "--interval", "1")
        _wait_ticks(root, 4, proc)
        svc.proc.send_signal(signal.SIGKILL)
        svc.proc.wait(10)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 8, err
    assert "Traceback" not in err
    assert "stopped answering" in out and "did not come back" in out
    assert "SERVICE LOST" in out
    assert "stopped answering" in err.strip().splitlines()[-1]
    doc = json.loads((root / "d.json").read_text())
    lost = doc["service_lost"]
    assert lost["back_at"] is None and lost["restarted"] is False
    assert lost["failed_ticks"] >= 1 and "connect" in lost["reason"]
    assert doc["failed_ticks"] and all(t["errors"] for t in doc["failed_ticks"])
    assert any("Connection refused" in e or "connect" in e
               for t in doc["failed_ticks"] for e in t["errors"])
    assert lost["last_answer"] < lost["since"]
    [path] = [p.parent for p in root.glob(f"*/{INDEX_NAME}")]
    assert check_integrity(path) == []
    assert len(open_session(path)) >= 4  # every snapshot taken before the kill
    # the stored session says the same offline
    again = run_cli("analyze", str(path), "--json", "-")
    assert again.rc == 8, again.err
    assert json.loads(again.out)["service_lost"] == lost


@pytest.mark.go
@pytest.mark.slow
def test_service_killed_mid_collect_exits_8_and_keeps_the_snapshots(svc_exe: Path,
                                                                      tmp_path: Path) -> None:
    root = tmp_path / "s"
    with run_go(svc_exe) as svc:
        proc = subprocess.Popen([sys.executable, "-m", "leaksleuth", "collect", svc.url,
                                 "--count", "8", "--interval", "500ms", "-q", "--out",
                                 str(root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        _wait_ticks(root, 2, proc)
        svc.proc.send_signal(signal.SIGKILL)
        svc.proc.wait(10)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 8, err
    assert "Traceback" not in err
    assert out == ""
    assert err.strip().splitlines()[-1].startswith("leaksleuth: error: the service stopped")
    [path] = [p.parent for p in root.glob(f"*/{INDEX_NAME}")]
    s = open_session(path)
    assert s.status == "finished" and len(s) >= 2 and check_integrity(path) == []


def _tick(seq: int, status: str, num_gc: int | None) -> TickRow:
    return TickRow(seq, 100.0 + seq, 100.5 + seq, status, 10, 1 << 20, num_gc)


def test_loss_is_told_from_a_passing_stall_and_a_restart() -> None:
    from leaksleuth.analyze.outage import service_lost

    errs = {3: ["heap_text: GET /debug/pprof/heap?debug=1&gc=1: cannot connect "
                "(Connection refused)"], 4: ["heap: x"]}
    ok = [_tick(i, "ok", 10 + i) for i in range(3)]
    gone = service_lost([*ok, _tick(3, "failed", None), _tick(4, "failed", None)], errs)
    assert gone is not None and gone.back_at is None and gone.failed_ticks == 2
    assert gone.since == 103.0 and gone.last_answer == 102.0 and "refused" in gone.reason
    restarted = service_lost([*ok, _tick(3, "failed", None), _tick(5, "ok", 2)], errs)
    assert restarted is not None and restarted.restarted and restarted.back_at == 105.0
    # a stall that passes (same process: NumGC kept counting) is failed ticks, not a loss
    assert service_lost([*ok, _tick(3, "failed", None), _tick(5, "ok", 30)], errs) is None
    # never answered at all is not "lost" (collect refuses to start instead)
    assert service_lost([_tick(0, "failed", None)], errs) is None


# --- a hung endpoint ------------------------------------------------------------------------


def _one_line_error(err: str, *words: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("leaksleuth: error: "), err
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], err


@pytest.mark.slow
@pytest.mark.parametrize("cmd", [
    ["goroutines", "{url}", "--timeout", "2"],
    ["goroutines", "{url}", "--timeout", "2", "--retries", "5"],
    ["classify", "{url}", "--exe", sys.executable, "--timeout", "2"],
    ["collect", "{url}", "--count", "1", "--timeout", "1", "--retries", "3", "-q"],
])
def test_hung_endpoint_costs_what_timeout_says(cmd: list[str], tmp_path: Path) -> None:
    """The server sees the client give up within --timeout per request (retries included),
    not once per attempt."""
    with hung_server() as srv:
        res = run_cli(*[a.format(url=srv.url) for a in cmd], "--out", str(tmp_path)
                      ) if cmd[0] == "collect" else run_cli(
                          *[a.format(url=srv.url) for a in cmd])
        time.sleep(0.3)  # the last close reaches the server thread
    budget = float(cmd[cmd.index("--timeout") + 1])
    requests = 2 if cmd[0] == "collect" else 1  # two stalled requests end a collect tick
    assert res.rc == 3, res.err
    _one_line_error(res.err, "no answer within")
    assert srv.opened, "the command never connected"
    assert srv.span() <= requests * budget + 0.75, (srv.span(), len(srv.opened))


@pytest.mark.slow
def test_diagnose_on_a_hung_endpoint_ends_by_duration_plus_timeout(tmp_path: Path) -> None:
    """Defaults (--timeout 10): `diagnose --duration 6` gives up within 6 + 10 s."""
    with hung_server() as srv:
        res = run_cli("diagnose", srv.url, "--duration", "6", "--interval", "2", "-q",
                      "--out", str(tmp_path))
        time.sleep(0.3)
    assert res.rc == 3, res.err
    _one_line_error(res.err, "cannot collect", "no answer within")
    assert srv.span() <= 6 + 10 + 0.75, srv.span()


@pytest.mark.go
@pytest.mark.slow
def test_service_frozen_mid_diagnose_collection_ends_in_time(svc_exe: Path,
                                                               tmp_path: Path) -> None:
    """SIGSTOP (a hung process) mid-session: collection still ends by --duration plus one
    --timeout, the snapshots before it are analysed, and the failure is reported."""
    root = tmp_path / "s"
    root.mkdir()
    with run_go(svc_exe) as svc:
        proc = _start_diagnose(svc.url, root, "--duration", "6", "--interval", "1",
                               "--timeout", "2")
        try:
            _wait_ticks(root, 2, proc)
            os.kill(svc.pid, signal.SIGSTOP)
            out, err = proc.communicate(timeout=120)
        finally:
            os.kill(svc.pid, signal.SIGCONT)
    [path] = [p.parent for p in root.glob(f"*/{INDEX_NAME}")]
    s = open_session(path)
    assert s.ended is not None and s.ended - s.started <= 6 + 2 + 0.75, s.ended - s.started
    assert proc.returncode == 8, err
    assert "stopped answering" in out
    assert json.loads((root / "d.json").read_text())["service_lost"]["failed_ticks"] >= 1
    assert check_integrity(path) == []
