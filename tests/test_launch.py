"""The program's entry point starts decompressing the files of plain `top`/`diff`/`flame`
invocations before the CLI is imported; the commands then take those maps, not new ones."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest

from leaksleuth.launch import files_to_read
from leaksleuth.profile import gunzip

ROOT = Path(__file__).resolve().parent.parent
SNAP = ROOT / "tests" / "golden" / "session" / "snapshots"


def test_files_of_plain_invocations_only(tmp_path: Path) -> None:
    a, b = tmp_path / "a.pb.gz", tmp_path / "b.pb.gz"
    a.write_bytes(b"x" * 10)
    b.write_bytes(b"y" * 10)
    assert files_to_read(["top", str(a)]) == [str(a)]
    assert files_to_read(["diff", str(a), str(b)]) == [str(b), str(a)]  # NEW first
    assert files_to_read(["flame", str(a), "--html", "o.html"]) == [str(a)]
    assert files_to_read(["diff", str(a), str(tmp_path / "missing")]) == [
        str(tmp_path / "missing")]  # no sizes: only NEW; the command names the problem
    for argv in ([], ["top"], ["top", "--cum", str(a)], ["top", str(a), str(b)],
                 ["flame", str(a), "--base", str(b), "--html", "o"], ["analyze", str(a)],
                 ["diff", str(a)], ["flame", str(a)]):
        assert files_to_read(argv) == [], argv


def test_big_base_is_left_to_its_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from leaksleuth import launch

    a, b = tmp_path / "a.pb.gz", tmp_path / "b.pb.gz"
    a.write_bytes(b"x" * 100)
    b.write_bytes(b"y" * 100)
    monkeypatch.setattr(launch, "_BOTH_AHEAD_BYTES", 150)
    assert files_to_read(["diff", str(a), str(b)]) == [str(b)]


def test_asked_twice_is_decompressed_once(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "p.gz"
    f.write_bytes(gzip.compress(b"profile bytes" * 100))
    calls: list[str] = []
    real = gunzip._gunzip

    def counting(path: str) -> object:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(gunzip, "_gunzip", counting)
    gunzip.gunzip_ahead([str(f)])
    gunzip.gunzip_ahead([str(f)])  # the command asks again: already under way
    mm = gunzip.gunzip_owned(str(f))
    assert mm is not None and mm[:13] == b"profile bytes" and calls == [str(f)]
    gunzip.gunzip_ahead([str(f)])  # taken: asked again, decompressed again
    gunzip.discard(str(f))
    assert calls == [str(f), str(f)]


def test_entry_point_runs_the_commands(tmp_path: Path) -> None:
    """`python -m leaksleuth` through launch: same output as the CLI called in-process."""
    from leaksleuth.cli import main

    base, new = SNAP / "000000" / "heap.pb.gz", SNAP / "000005" / "heap.pb.gz"
    out = subprocess.run([sys.executable, "-m", "leaksleuth", "diff", str(base), str(new)],
                         capture_output=True, text=True, check=True).stdout
    assert "Showing nodes" in out
    page = tmp_path / "f.html"
    done = subprocess.run([sys.executable, "-m", "leaksleuth", "flame", str(new), "--html",
                           str(page)], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("wrote ") and page.read_text().startswith("<!DOCTYPE html>")
    bad = subprocess.run([sys.executable, "-m", "leaksleuth", "top", str(tmp_path / "no")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no such file" in bad.stderr
    assert main(["top", str(new)]) == 0


@pytest.mark.parametrize(("argv", "want"), [(["top", "F"], "1"), (["analyze", "F"], "None")])
def test_plain_profile_commands_start_numpy_without_blas_threads(
        tmp_path: Path, argv: list[str], want: str) -> None:
    import os

    f = tmp_path / "p.pb.gz"
    f.write_bytes(gzip.compress(b"x"))
    args = [str(f) if a == "F" else a for a in argv]
    code = ("import os, sys, leaksleuth.cli as c\n"
            "c.run = lambda: print(os.environ.get('OPENBLAS_NUM_THREADS'))\n"
            f"sys.argv = ['leaksleuth', *{args!r}]\n"
            "from leaksleuth.launch import run\nrun()\n")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout
    assert out.strip() == want


def test_plain_top_and_diff_without_click_print_what_the_cli_prints(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from leaksleuth.cli import main

    base, new = SNAP / "000000" / "heap.pb.gz", SNAP / "000005" / "heap.pb.gz"
    for argv in (["top", str(new)], ["diff", str(base), str(new)]):
        assert main(argv) == 0
        want = capsys.readouterr().out
        got = subprocess.run([sys.executable, "-m", "leaksleuth", *argv], capture_output=True,
                             text=True, check=True)
        assert got.stdout == want and "Showing nodes" in want and got.stderr == ""
    # the fast path itself, and that it never imports click
    code = ("import sys\nfrom leaksleuth.launch import plain_table\n"
            f"print(plain_table(['top', {str(new)!r}]), end='')\n"
            "print('click' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.startswith("File: ") or "Showing nodes" in out
    assert out.rstrip().endswith("False")


def test_plain_commands_report_problems_as_the_cli_does(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from leaksleuth.cli import main

    good = SNAP / "000005" / "heap.pb.gz"
    bad = tmp_path / "bad.pb.gz"
    bad.write_bytes(gzip.compress(b"\x0a\x03abc" * 10))
    page = tmp_path / "page.pb.gz"
    page.write_text("<html>error</html>")
    for argv in (["top", str(bad)], ["diff", str(bad), str(good)], ["diff", str(good), str(page)],
                 ["top", str(tmp_path / "missing")]):
        code = main(argv)
        want = capsys.readouterr().err
        got = subprocess.run([sys.executable, "-m", "leaksleuth", *argv], capture_output=True,
                             text=True)
        assert (got.returncode, got.stderr, got.stdout) == (code, want, ""), argv
        assert code != 0 and want.count("\n") == 1
