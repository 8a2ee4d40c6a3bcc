"""Goroutine grouping and the `leaksleuth goroutines FILE|URL` command, on a real Go program."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from leaksleuth.profile.goroutines import group_bytes, group_dump, group_profile
from leaksleuth.profile.model import Frame, Goroutine, GoroutineDump
from leaksleuth.profile.text import dump_to_profile, parse_goroutine_dump
from leaksleuth.report.goroutine_table import goroutines_plain, goroutines_table, to_dict
from support.goroutinegen import run_goroutinegen
from support.goservice import GO_VERSIONS

W = Frame("main.worker", "/src/main.go", 41, 0x1C)
RECV = Frame("runtime.chanrecv1", "/go/src/runtime/chan.go", 489, 0x12)
SEL = Frame("main.loop", "/src/main.go", 50, 0x9D)
HTTP = Frame("net/http.(*persistConn).readLoop", "/go/src/net/http/transport.go", 2300, 0x40)
MAIN = Frame("main.main", "/src/main.go", 120, 0x10)
POOL = Frame("main.startPool", "/src/main.go", 90, 0x22)


def _g(gid: int, state: str, frames: tuple[Frame, ...], minutes: int = 0, locked: bool = False,
       creator: Frame | None = MAIN) -> Goroutine:
    return Goroutine(gid, state, minutes, locked, frames, creator, 1 if creator else None)


DUMP = GoroutineDump((
    _g(5, "chan receive", (RECV, W), minutes=3),
    _g(6, "chan receive", (RECV, W), minutes=42, locked=True),
    _g(7, "chan receive", (RECV, W)),
    _g(8, "chan receive, 1 minutes", (RECV, W), creator=POOL),  # another creator: own group
    _g(9, "select", (SEL,)),
    _g(10, "select", (SEL,), minutes=7),
    _g(11, "IO wait", (HTTP,)),
    _g(12, "running", (RECV, W)),
    _g(1, "select (no cases)", (MAIN,), creator=None),
))


def test_group_dump_counts_states_waits() -> None:
    groups = group_dump(DUMP)
    assert [g.count for g in groups] == [4, 2, 1, 1, 1]
    top = groups[0]
    assert top.own_frame == "main.worker"  # runtime leaf skipped
    assert top.created_by == "main.main"
    assert top.states == (("chan receive", 3), ("running", 1))
    assert top.state_summary == "chan receive ×3, running ×1"
    assert top.max_wait_minutes == 42 and top.locked_to_thread == 1
    assert top.ids == (5, 6, 7, 12)
    assert top.functions == ("runtime.chanrecv1", "main.worker")
    assert groups[1].own_frame == "main.loop" and groups[1].max_wait_minutes == 7
    pool = next(g for g in groups if g.created_by == "main.startPool")
    assert pool.count == 1 and pool.ids == (8,)
    http = next(g for g in groups if g.functions == (HTTP.function,))
    assert http.own_frame == HTTP.function  # all standard library: the innermost frame
    assert sum(g.count for g in groups) == len(DUMP.goroutines)


def test_group_profile_degrades_to_counts() -> None:
    groups = group_profile(dump_to_profile(DUMP))
    # no creators in a profile: goroutines 5-8 and 12 share one stack
    assert [g.count for g in groups] == [5, 2, 1, 1]
    assert groups[0].own_frame == "main.worker"
    assert groups[0].states == () and groups[0].created_by == "" and groups[0].ids == ()


def test_renderers_show_every_group() -> None:
    groups = group_dump(DUMP)
    text = goroutines_plain(groups, "dump.txt", detail="full")
    lines = text.splitlines()
    assert lines[0] == "9 goroutines in 5 groups (dump.txt)"
    assert lines[1].split() == ["count", "state", "longest", "wait", "own", "frame", "created",
                                "by"]
    assert lines[2].split()[0] == "4" and "main.worker" in lines[2] and "42 min" in lines[2]
    assert "chan receive ×3, running ×1 (locked ×1)" in lines[2]
    assert len(lines) == 2 + len(groups)
    doc = to_dict(groups, "dump.txt", detail="full")
    assert doc["total"] == 9 and doc["groups"][0]["states"][0] == {"state": "chan receive",
                                                                  "count": 3}
    assert json.loads(json.dumps(doc)) == doc
    table = goroutines_table(groups, "dump.txt", detail="full")
    assert table.row_count == len(groups)
    counts_only = goroutines_plain(group_profile(dump_to_profile(DUMP)), "p", detail="counts")
    assert counts_only.splitlines()[1].split() == ["count", "own", "frame"]


def test_group_bytes_rejects_a_heap_profile() -> None:
    from leaksleuth.errors import ProfileError

    heap = b"heap profile: 0: 0 [0: 0] @ heap/1048576\n"
    with pytest.raises(ProfileError, match="not a goroutine profile"):
        group_bytes(heap, "heap.txt")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "leaksleuth", *args], capture_output=True,
                          text=True, env=env, timeout=60, check=False)


def _expected_states(version: str) -> dict[str, str]:
    wg = "semacquire" if version.startswith("1.23") else "sync.WaitGroup.Wait"
    return {
        "main.blockOnChan": "chan receive", "main.selectLoop": "select",
        "main.sleeper": "sleep", "main.lockedWaiter": "chan receive (locked)",
        "main.waitOn[...]": "chan receive", "main.(*Store).serve": "chan receive",
        "main.mutexWaiter": "sync.Mutex.Lock", "main.groupWaiter": wg,
        "main.labelledWaiter": "chan receive",
        "main.main.func": "chan receive",  # the anonymous closure (its number may change)
    }


@pytest.mark.go
@pytest.mark.parametrize("version", GO_VERSIONS)
def test_goroutines_command_on_a_live_program(version: str, tmp_path: Path) -> None:
    with run_goroutinegen(version) as (svc, groups):
        plain = _cli("goroutines", svc.url)
        as_json = _cli("goroutines", svc.url + "/debug/pprof/", "--json")
        pb = httpx.get(svc.url + "/debug/pprof/goroutine", timeout=10).content
        text = httpx.get(svc.url + "/debug/pprof/goroutine?debug=1", timeout=10).content
    assert plain.returncode == 0, plain.stderr
    assert as_json.returncode == 0, as_json.stderr
    # plain text (stdout is a pipe): one line per group, count first, state, own frame, creator
    rows = {}
    for line in plain.stdout.splitlines()[2:]:
        for name in groups:
            if f"  {name}  " in line:
                rows[name] = line
    states = _expected_states(version)
    for name, n in groups.items():
        assert name in rows, (name, plain.stdout)
        assert rows[name].split()[0] == str(n)
        state = states[name.rstrip("0123456789")] if name.startswith("main.main.func") else (
            states[name])
        assert f"  {state}  " in rows[name], rows[name]
        # created by main.main (or, for the labelled ones, the closure passed to pprof.Do)
        assert rows[name].split()[-1].startswith("main.main")
    doc = json.loads(as_json.stdout)
    assert doc["detail"] == "full" and not doc["truncated"]
    assert doc["source"].endswith("/debug/pprof/goroutine?debug=2")
    by_own = {g["own_frame"]: g for g in doc["groups"] if g["own_frame"] in groups}
    for name, n in groups.items():
        g = by_own[name]
        assert g["count"] == n and len(g["ids"]) == min(n, 20)
        assert g["created_by"].startswith("main.main")
    assert by_own["main.lockedWaiter"]["locked_to_thread"] == 3
    assert by_own["main.selectLoop"]["states"] == [{"state": "select", "count": 20}]
    # saved protobuf and debug=1 profiles give the same counts, without states
    for fname, body in (("goroutine.pb.gz", pb), ("goroutine.txt", text)):
        f = tmp_path / fname
        f.write_bytes(body)
        res = _cli("goroutines", str(f), "--json")
        assert res.returncode == 0, res.stderr
        doc = json.loads(res.stdout)
        assert doc["detail"] == "counts"
        counts = {g["own_frame"]: g["count"] for g in doc["groups"]}
        for name, n in groups.items():
            assert counts[name] == n, (fname, name)


def test_goroutines_command_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "page.html"
    bad.write_bytes(b"<html><body>not found</body></html>")
    res = _cli("goroutines", str(bad))
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and str(bad) in res.stderr and "HTML" in res.stderr
    res = _cli("goroutines", str(tmp_path / "missing"))
    assert res.returncode == 2 and "no such file" in res.stderr
    # nothing listens on port 9 of 127.0.0.1: a CollectError, exit code 3
    res = _cli("goroutines", "http://127.0.0.1:9", "--timeout", "2")
    assert res.returncode == 3, res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr


def test_truncated_dump_is_flagged(tmp_path: Path) -> None:
    data = (b"goroutine 1 [select (no cases)]:\nmain.main()\n\t/src/main.go:170 +0x757\n\n"
            b"goroutine 2 [chan receive]:\nmain.worker(0x1)\n\t/src/ma")
    dump = parse_goroutine_dump(data, "cut")
    assert dump.truncated and len(dump.goroutines) == 2
    f = tmp_path / "cut.txt"
    f.write_bytes(data)
    res = _cli("goroutines", str(f))
    assert res.returncode == 0 and "[dump truncated]" in res.stdout
