"""Hostile and odd input through the CLI: one-line error naming the file (exit 2) or a correct
result; never a traceback."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

from leaksleuth.cli import main
from pprofbuild import Builder, field_bytes, field_varint


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(args)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _assert_clean_error(rc: int, err: str, path: Path, problem: str) -> None:
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("leaksleuth: error: "), err
    assert str(path) in lines[0], err
    assert problem in lines[0].lower(), err
    assert "Traceback" not in err


def _valid() -> bytes:
    return (Builder().function(1, "main.f").location(1, [1]).sample([1], [5]).build())


BAD: dict[str, tuple[bytes, str]] = {
    "empty": (b"", "empty"),
    "truncated-gzip": (gzip.compress(_valid() * 50)[:40], "gzip"),
    "html": (b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", "html"),
    "other-protobuf": (  # a valid protobuf message (a FileDescriptorProto), not a profile
        field_bytes(1, b"foo.proto") + field_bytes(2, b"pkg") + field_bytes(3, b"dep.proto"),
        "not a pprof profile",
    ),
    "truncated-raw": (_valid()[:-3], "malformed"),
    "dangling-location": (
        Builder().function(1, "main.f").location(1, [1]).sample([1, 7], [5]).build(),
        "location 7",
    ),
    "dangling-function": (
        Builder().function(1, "main.f").location(1, [1, 9]).sample([1], [5]).build(),
        "function 9",
    ),
    "wrong-value-count": (
        Builder().function(1, "main.f").location(1, [1]).sample([1], [5, 6]).build(),
        "values",
    ),
    "string-out-of-range": (_valid() + field_varint(14, 999), "out of range"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_file_is_one_line_exit_2(case: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    data, problem = BAD[case]
    path = tmp_path / f"{case}.pb"
    path.write_bytes(data)
    for args in (["top", str(path)], ["diff", str(path), str(path)]):
        rc, out, err = _run(args, capsys)
        _assert_clean_error(rc, err, path, problem)
        assert out == ""


def test_missing_file_and_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(["top", str(tmp_path / "nope.pb.gz")], capsys)
    _assert_clean_error(rc, err, tmp_path / "nope.pb.gz", "no such file")
    rc, _, err = _run(["top", str(tmp_path)], capsys)
    _assert_clean_error(rc, err, tmp_path, "directory")


def test_random_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(1234)
    for i in range(40):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
        path = tmp_path / f"r{i}"
        path.write_bytes(data)
        rc, out, err = _run(["top", str(path), "--json"], capsys)
        if rc == 0:  # random bytes that happen to be a (tiny) valid profile: must be usable
            json.loads(out)
        else:
            _assert_clean_error(rc, err, path, "")


def test_bad_options_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ok.pb"
    path.write_bytes(_valid())
    rc, _, err = _run(["top", str(path), "--sample-index", "nosuch"], capsys)
    assert rc == 2 and "nosuch" in err and len(err.strip().splitlines()) == 1
    rc, _, err = _run(["top", str(path), "--focus", "("], capsys)
    assert rc == 2 and "regular expression" in err and len(err.strip().splitlines()) == 1


def test_incompatible_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.pb", tmp_path / "b.pb"
    a.write_bytes(_valid())
    b.write_bytes(Builder([("space", "bytes")]).function(1, "f").location(1, [1])
                  .sample([1], [1]).build())
    rc, _, err = _run(["diff", str(a), str(b)], capsys)
    assert rc == 2 and "incompatible" in err and len(err.strip().splitlines()) == 1


def _top_json(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, object]:
    rc, out, err = _run(["top", str(path), "--json", *extra], capsys)
    assert rc == 0, err
    doc: dict[str, object] = json.loads(out)
    return doc


def test_ten_level_inlined_stack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    b = Builder()
    for i in range(1, 11):
        b.function(i, f"main.inl{i}")
    b.function(11, "main.outer").location(1, list(range(1, 11))).location(2, [11])
    path = tmp_path / "inl.pb"
    path.write_bytes(b.sample([1, 2], [7]).sample([2], [3]).build())
    doc = _top_json(path, capsys)
    rows = {r["function"]: r for r in doc["rows"]}  # type: ignore[attr-defined]
    assert len(rows) == 11
    assert rows["main.inl1"]["flat"] == 7  # the innermost inlined frame gets the flat value
    assert rows["main.outer"]["flat"] == 3 and rows["main.outer"]["cum"] == 10
    for i in range(2, 11):
        assert rows[f"main.inl{i}"]["flat"] == 0 and rows[f"main.inl{i}"]["cum"] == 7


@pytest.mark.slow
def test_hundred_thousand_frame_stack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n = 100_000
    b = Builder()
    for i in range(1, n + 1):
        b.function(i, f"main.f{i}").location(i, [i])
    b.sample(list(range(1, n + 1)), [9])
    b.sample([1, 1, 1, 2], [4])  # recursion: counted once per sample in cum
    path = tmp_path / "deep.pb"
    path.write_bytes(b.build())
    doc = _top_json(path, capsys, "--cum", "--nodecount", "3")
    rows = doc["rows"]
    assert doc["total"] == 13 and doc["node_count"] == n  # type: ignore[index]
    assert [r["cum"] for r in rows] == [13, 13, 9]  # type: ignore[attr-defined]
    assert rows[0]["function"] == "main.f1" and rows[0]["flat"] == 13  # type: ignore[index]


def test_non_utf8_names_are_replaced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "u.pb"
    path.write_bytes(Builder().function(1, b"main.\xff\xfebad").location(1, [1])
                     .sample([1], [2]).build())
    doc = _top_json(path, capsys)
    assert doc["rows"][0]["function"] == "main.\ufffd\ufffdbad"  # type: ignore[index]
    rc, out, _ = _run(["top", str(path)], capsys)
    assert rc == 0 and "main.\ufffd\ufffdbad" in out


def test_unpacked_and_gzip_forms_agree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def build(unpacked: bool) -> bytes:
        return (Builder().function(1, "main.a").function(2, "main.b").location(1, [1])
                .location(2, [2]).sample([1, 2], [5], unpacked=unpacked)
                .sample([2], [3], unpacked=unpacked).build())

    (tmp_path / "p.pb").write_bytes(build(False))
    (tmp_path / "u.pb").write_bytes(build(True))
    (tmp_path / "g.pb.gz").write_bytes(gzip.compress(build(True)))
    docs = [_top_json(tmp_path / f, capsys)["rows"] for f in ("p.pb", "u.pb", "g.pb.gz")]
    assert docs[0] == docs[1] == docs[2]
    assert [(r["function"], r["flat"], r["cum"]) for r in docs[0]] == [  # type: ignore[attr-defined]
        ("main.a", 5, 5), ("main.b", 3, 8)]
