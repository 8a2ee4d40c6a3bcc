"""Hostile input through every command that reads a file, a session, an archive or a URL.

Each case runs the real CLI as a child process and asserts its exit code, a one-line message
(no traceback) and its peak memory (wait4's ru_maxrss, which includes the descendants it
waited for) under 500 MB. Inputs: a gzip bomb (1 GiB of zeros in ~1 MB), random bytes,
truncated gzip, an HTML error page, an empty file, and 10,000-character names (a function
name inside a valid dump, and a path argument).
"""

from __future__ import annotations

import gzip
import random
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from leaksleuth.collect.store import INDEX_NAME, Artifact, Store, Target, TickRecord
from support.hostile import Ran, body_server, gzip_bomb, run_cli

pytestmark = pytest.mark.slow

PEAK_MB = 500
LONG = "main.(*" + "x" * 10_000 + ").Handle"


def _dump(func: str = "main.worker") -> bytes:
    """A small, valid goroutine?debug=2 dump."""
    out = [b"goroutine 1 [running]:\nmain.main()\n\t/src/main.go:10 +0x1d\n"]
    for gid in range(2, 12):
        out.append(f"goroutine {gid} [chan receive, 3 minutes]:\n{func}(0xc000010000)\n"
                   f"\t/src/main.go:20 +0x2a\ncreated by main.main in goroutine 1\n"
                   f"\t/src/main.go:12 +0x3b\n".encode())
    return b"\n".join(out)


BODIES: dict[str, Callable[[Path], bytes]] = {
    "bomb": lambda d: gzip_bomb(d / "bomb.gz").read_bytes(),
    "random": lambda d: random.Random(14).randbytes(64 << 10),
    "truncated-gzip": lambda d: gzip.compress(_dump() * 40)[:300],
    "html": lambda d: b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>\n",
    "empty": lambda d: b"",
    "long-name": lambda d: _dump(LONG),  # valid: must work
}
BAD = sorted(k for k in BODIES if k != "long-name")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("hostile")
    out = {}
    for name, make in BODIES.items():
        p = d / f"{name}.in"
        p.write_bytes(make(d))
        out[name] = p
    return out


def check(res: Ran, code: int, *words: str) -> None:
    """Exit code, one line on stderr when failing (none of it a traceback), bounded memory."""
    assert "Traceback" not in res.err and "internal error" not in res.err, res.err
    assert res.rc == code, (res.rc, res.err[-2000:])
    if code:
        lines = res.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("leaksleuth: error: "), res.err[-2000:]
        for w in words:
            assert w.lower() in lines[0].lower(), lines[0][:500]
    assert res.peak_mb < PEAK_MB, f"peak {res.peak_mb:.0f} MB"


# what each file-reading command does with a file: (args, exit code for a bad file)
FILE_CMDS: dict[str, tuple[list[str], int]] = {
    "top": (["top", "{f}"], 2),
    "diff": (["diff", "{f}", "{f}"], 2),
    "goroutines": (["goroutines", "{f}"], 2),
    "flame": (["flame", "{f}", "--html", "{tmp}/f.html"], 2),
    "classify": (["classify", "{f}", "--exe", sys.executable], 2),
    "import": (["import", "{f}", "--out", "{tmp}/sessions"], 4),
}
# the valid dump with a 10,000-character name: every profile reader takes it
LONG_NAME_OK = {"top": 0, "diff": 0, "goroutines": 0, "flame": 0, "classify": 2, "import": 4}


def _args(args: list[str], f: Path | str, tmp: Path) -> list[str]:
    return [a.format(f=f, tmp=tmp) for a in args]


@pytest.mark.parametrize("case", sorted(BODIES))
@pytest.mark.parametrize("cmd", sorted(FILE_CMDS))
def test_file_commands(cmd: str, case: str, inputs: dict[str, Path], tmp_path: Path) -> None:
    args, bad_code = FILE_CMDS[cmd]
    res = run_cli(*_args(args, inputs[case], tmp_path))
    if case == "long-name":
        check(res, LONG_NAME_OK[cmd])
        if res.rc == 0 and cmd in ("top", "goroutines"):
            assert "x" * 100 in res.out
    else:
        check(res, bad_code, str(inputs[case]))
    if cmd == "import":  # nothing half-imported is left behind
        assert not list((tmp_path / "sessions").glob("*/" + INDEX_NAME))


@pytest.mark.parametrize("cmd", sorted(FILE_CMDS))
def test_ten_thousand_character_path(cmd: str, tmp_path: Path) -> None:
    path = "/tmp/" + "p" * 10_000
    args, _ = FILE_CMDS[cmd]
    res = run_cli(*_args(args, path, tmp_path))
    check(res, 2)


@pytest.mark.parametrize("args", [
    ["analyze", "{p}"], ["report", "{p}", "--html", "{tmp}/r.html"], ["sessions", "{p}"],
    ["collect", "--resume", "{p}"], ["export", "{p}"],
])
def test_ten_thousand_character_session_path(args: list[str], tmp_path: Path) -> None:
    path = "/tmp/" + "p" * 10_000
    res = run_cli(*[a.format(p=path, tmp=tmp_path) for a in args])
    check(res, 2 if args[0] == "export" else 4)  # export: click checks the directory


# --- sessions: hostile stored snapshots, hostile index --------------------------------------


@pytest.fixture(scope="module")
def hostile_session(inputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session whose every tick stored one hostile body as each profile (as an older
    version, a bad disk or a hand-edited archive could leave), hashes consistent."""
    root = tmp_path_factory.mktemp("sessions")
    w = Store(root).create_session(Target("http://127.0.0.1:1", "/debug/pprof"), {"gc": True},
                                   1000.0)
    for seq, case in enumerate(sorted(BODIES)):
        data = inputs[case].read_bytes()
        arts = tuple(Artifact(kind, name, data, fmt, f"/debug/pprof/{kind}") for kind, name, fmt
                     in (("heap", "heap.pb.gz", "pprof+gzip"),
                         ("heap_text", "heap.txt", "heap-text"),
                         ("goroutine", "goroutine.pb.gz", "pprof+gzip"),
                         ("goroutine_dump", "goroutine.txt", "goroutine-dump")))
        w.write_tick(TickRecord(seq, 1000.0 + seq, 1000.5 + seq, arts))
    w.finish("finished", 1010.0)
    return w.path


@pytest.mark.parametrize("cmd", ["analyze", "report"])
def test_session_of_hostile_snapshots(cmd: str, hostile_session: Path, tmp_path: Path) -> None:
    """Unparseable snapshots are missing points, not a crash: the analysis still runs, says
    what it could not see, and the stored files are untouched."""
    before = {p: p.read_bytes() for p in hostile_session.rglob("*") if p.is_file()
              and "snapshots" in p.parts}
    args = (["analyze", str(hostile_session)] if cmd == "analyze" else
            ["report", str(hostile_session), "--html", str(tmp_path / "r.html")])
    res = run_cli(*args)
    check(res, 0)
    assert "INCONCLUSIVE" in res.out or cmd == "report"
    after = {p: p.read_bytes() for p in before}
    assert after == before


@pytest.mark.parametrize("case", BAD)
@pytest.mark.parametrize("cmd", ["analyze", "report", "sessions"])
def test_hostile_session_index(cmd: str, case: str, inputs: dict[str, Path],
                               hostile_session: Path, tmp_path: Path) -> None:
    d = tmp_path / "root" / "bad-session"
    shutil.copytree(hostile_session, d)
    (d / INDEX_NAME).write_bytes(inputs[case].read_bytes())
    args = {"analyze": ["analyze", str(d)],
            "report": ["report", str(d), "--html", str(tmp_path / "r.html")],
            "sessions": ["sessions", str(d)]}[cmd]
    res = run_cli(*args)
    check(res, 4, "index")


# --- URLs: a real HTTP server answering every path with the hostile body --------------------


URL_CMDS: dict[str, tuple[list[str], int, int]] = {  # args, code for bad, code for long-name
    "goroutines": (["goroutines", "{url}", "--timeout", "20"], 2, 0),
    "classify": (["classify", "{url}", "--exe", sys.executable, "--timeout", "20"], 2, 2),
    "collect": (["collect", "{url}", "--count", "1", "-q", "--out", "{tmp}/s"], 3, 0),
    "diagnose": (["diagnose", "{url}", "--duration", "1", "--interval", "1", "-q", "--out",
                  "{tmp}/s"], 3, 0),
}


@pytest.mark.parametrize("case", sorted(BODIES))
@pytest.mark.parametrize("cmd", sorted(URL_CMDS))
def test_url_commands(cmd: str, case: str, inputs: dict[str, Path], tmp_path: Path) -> None:
    args, bad_code, long_code = URL_CMDS[cmd]
    with body_server(inputs[case].read_bytes()) as url:
        res = run_cli(*[a.format(url=url, tmp=tmp_path) for a in args])
    check(res, long_code if case == "long-name" else bad_code)


# --- gdb on a hostile core file -------------------------------------------------------------


@pytest.mark.gdb
@pytest.mark.parametrize("case", BAD)
def test_maps_on_a_hostile_core(case: str, inputs: dict[str, Path]) -> None:
    if shutil.which("gdb") is None:
        pytest.skip("gdb is not installed")
    res = run_cli("maps", "--core", str(inputs[case]), "--exe", sys.executable,
                  "--timeout", "60")
    check(res, 6)


# --- a file we cannot write: exit 4 everywhere ----------------------------------------------


@pytest.mark.parametrize("args", [
    ["report", "{s}", "--html", "{tmp}/missing-dir/r.html"],
    ["analyze", "{s}", "--json", "{tmp}/missing-dir/d.json"],
    ["flame", "{dump}", "--html", "{tmp}/missing-dir/f.html"],
    ["export", "{s}", "-o", "{tmp}/missing-dir/s.tar.gz"],
])
def test_write_failures_exit_4(args: list[str], hostile_session: Path, inputs: dict[str, Path],
                               tmp_path: Path) -> None:
    res = run_cli(*[a.format(s=hostile_session, tmp=tmp_path, dump=inputs["long-name"])
                    for a in args])
    check(res, 4, "missing-dir")


# --- the same failure, the same exit code in every command ---------------------------------


def _gone_pid() -> int:
    """The PID of a process that has exited and been reaped."""
    import subprocess

    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("args, code, words", [
    # a profile file that is not there: a bad command line, exit 2
    (["top", "{tmp}/nope"], 2, ("no such file",)),
    (["diff", "{tmp}/nope", "{tmp}/nope"], 2, ("no such file",)),
    (["goroutines", "{tmp}/nope"], 2, ("no such file",)),
    (["flame", "{tmp}/nope", "--html", "{tmp}/f.html"], 2, ("no such file",)),
    (["classify", "{tmp}/nope", "--exe", sys.executable], 2, ("no such file",)),
    # a process that is not there: an inspection failure, exit 6 (gdb or not)
    (["maps", "--pid", "{pid}"], 6, ("no process with PID",)),
    (["classify", "{heap}", "--pid", "{pid}"], 6, ("no process with PID",)),
    # an executable or core that is not there: exit 6
    (["classify", "{heap}", "--exe", "{tmp}/nope"], 6, ("no such executable",)),
    (["maps", "--core", "{tmp}/nope", "--exe", sys.executable], 6, ("no such core file",)),
])
def test_same_failure_same_exit_code(args: list[str], code: int, words: tuple[str, ...],
                                     tmp_path: Path) -> None:
    heap = tmp_path / "heap.txt"
    heap.write_text("heap profile: 0: 0 [0: 0] @ heap/1048576\n")
    pid = _gone_pid()
    res = run_cli(*[a.format(tmp=tmp_path, pid=pid, heap=heap) for a in args])
    check(res, code, *words)
