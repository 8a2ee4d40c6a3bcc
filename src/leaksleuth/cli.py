"""Command line: parse arguments, call the library, pick a renderer. Nothing else.

Every command is a thin function here. Errors raised as ``LeaksleuthError`` become one line on
stderr and the class's exit code; nothing else may print a traceback unless
``LEAKSLEUTH_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import click
from click.decorators import FC

from leaksleuth import __version__
from leaksleuth.errors import LeaksleuthError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="leaksleuth")
def cli() -> None:
    """Find, confirm and explain memory leaks in running Go services."""


# --- profile commands: top, diff, goroutines (one profile file or URL in, a table out) -------


def _top_options(f: click.decorators.FC) -> click.decorators.FC:
    """Options shared by ``top`` and ``diff`` (pprof's names)."""
    for opt in reversed([
        click.option("--sample-index", "sample_index", default=None, metavar="NAME",
                     help="Sample type to show (default: the profile's default, else last)."),
        click.option("--cum", is_flag=True, help="Sort by cumulative value."),
        click.option("--nodecount", type=click.IntRange(min=1), default=None,
                     help="Show at most N functions."),
        click.option("--focus", "focus_re", default=None, metavar="RE",
                     help="Only samples with a frame (function, file or binary) matching RE."),
        click.option("--ignore", "ignore_re", default=None, metavar="RE",
                     help="Drop samples with a frame (function, file or binary) matching RE."),
        click.option("--json", "as_json", is_flag=True, help="JSON (leaksleuth.top/1)."),
    ]):
        f = opt(f)
    return f


@cli.command()
@click.argument("file", type=click.Path(dir_okay=True, path_type=str))
@_top_options
def top(file: str, sample_index: str | None, cum: bool, nodecount: int | None,
        focus_re: str | None, ignore_re: str | None, as_json: bool) -> None:
    """Functions by flat (or cumulative) value, like `go tool pprof -top FILE`."""
    from leaksleuth.profile.gunzip import gunzip_ahead

    gunzip_ahead([file])  # on another core while numpy and the rest are imported
    from leaksleuth.profile import summary
    from leaksleuth.report import tables

    result = summary.top_file(file, sample_index, cum_sort=cum, nodecount=nodecount,
                              focus_re=focus_re, ignore_re=ignore_re)
    tables.render(result, sys.stdout, files=[file], as_json=as_json)
    _at_once()


@cli.command()
@click.argument("base", type=click.Path(dir_okay=True, path_type=str))
@click.argument("new", type=click.Path(dir_okay=True, path_type=str))
@_top_options
def diff(base: str, new: str, sample_index: str | None, cum: bool, nodecount: int | None,
         focus_re: str | None, ignore_re: str | None, as_json: bool) -> None:
    """What grew (+) and shrank (-) from BASE to NEW, like `go tool pprof -top -base`."""
    from leaksleuth.profile.gunzip import gunzip_ahead

    # NEW on another core while numpy and the rest are imported (if launch has not already
    # started it, with a small BASE); a large BASE is decompressed by the process that reads
    # it (a forked child, in parallel with NEW's samples)
    gunzip_ahead([new])
    from leaksleuth.profile import summary
    from leaksleuth.report import tables

    result = summary.diff_files(base, new, sample_index, cum_sort=cum, nodecount=nodecount,
                                focus_re=focus_re, ignore_re=ignore_re)
    tables.render(result, sys.stdout, files=[base, new], as_json=as_json, diff=True)
    _at_once()


def _at_once() -> None:
    """This command leaves nothing to clean up: ``run`` may end the process at once."""
    global _exit_at_once
    _exit_at_once = True


def _fetch_options(timeout: str, retries: int) -> list[Callable[[FC], FC]]:
    """--timeout and --retries, with one meaning for every command that fetches."""
    return [
        click.option("--timeout", "timeout", default=timeout, show_default=True,
                     help="Time budget of each request, its retries included (500ms, 5s; a "
                          "bare number is seconds). With --duration, collection ends at the "
                          "latest one timeout after the window."),
        click.option("--retries", "retries", type=click.IntRange(min=0), default=retries,
                     show_default=True,
                     help="Retries of a refused or broken connection or a 5xx answer, made "
                          "only while the request's --timeout has time left."),
    ]


def _with(opts: list[Callable[[FC], FC]]) -> Callable[[FC], FC]:
    """Apply several click options at once."""
    def deco(f: FC) -> FC:
        for opt in reversed(opts):
            f = opt(f)
        return f
    return deco


def _fetch_one(url: str, leaf: str, params: dict[str, str], timeout: str,
               retries: int) -> tuple[bytes, str]:
    """GET one profile of a pprof endpoint; (body, source name).

    ``http://host:6060``, ``http://host:6060/debug/pprof`` and a pasted profile URL
    (``.../debug/pprof/heap``) all mean the endpoint whose ``leaf`` is fetched, as in ``collect``.
    """
    from leaksleuth.collect.client import PprofClient, pprof_path, redact_url
    from leaksleuth.units import parse_duration

    path = pprof_path(url) + "/" + leaf
    with PprofClient(url, timeout=parse_duration(timeout), retries=retries) as client:
        resp = client.get(path, params)
        return resp.body, redact_url(client.origin) + resp.request


@cli.command("goroutines")
@click.argument("target", metavar="FILE|URL")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (schema in the renderer).")
@click.option("--module", default=None,
              help="The service's module path, when it has no dot (e.g. 'myservice').")
@_with(_fetch_options("10s", 1))
def goroutines_cmd(target: str, as_json: bool, module: str | None, timeout: str,
                   retries: int) -> None:
    """Goroutines grouped by identical stack: count, state, longest wait, own frame, creator.

    FILE is a goroutine dump (debug=2), debug=1 text or protobuf profile; URL is a pprof
    endpoint base such as http://127.0.0.1:6060 (its debug=2 dump is fetched).
    """
    from leaksleuth.profile.formats import read_bytes
    from leaksleuth.profile.goroutines import group_bytes
    from leaksleuth.report import goroutine_table as gt

    if target.startswith(("http://", "https://")):
        data, source = _fetch_one(target, "goroutine", {"debug": "2"}, timeout, retries)
    else:
        data, source = read_bytes(target), target
    res = group_bytes(data, source, module)
    detail, cut = res.detail, res.truncated
    if as_json:
        click.echo(gt.goroutines_json(res.groups, source, detail=detail, truncated=cut))
    elif sys.stdout.isatty():
        from rich.console import Console

        Console().print(gt.goroutines_table(res.groups, source, detail=detail, truncated=cut))
    else:
        click.echo(gt.goroutines_plain(res.groups, source, detail=detail, truncated=cut), nl=False)


# --- collection commands: collect, sessions, export, import (the snapshot store) -------------


def _session_root(out: str | None) -> str:
    return out or os.environ.get("LEAKSLEUTH_SESSIONS", "leaksleuth-sessions")


@cli.command("collect")
@click.argument("url", required=False)
@click.option("--interval", default="5s", show_default=True,
              help="Time between snapshots: 500ms, 5s, 10m, 1h.")
@click.option("--duration", default=None, help="Collect for this long (e.g. 10m).")
@click.option("--count", type=int, default=None, help="Collect this many snapshots.")
@click.option("--out", "out", default=None,
              help="Sessions directory [default: $LEAKSLEUTH_SESSIONS or ./leaksleuth-sessions].")
@click.option("--no-gc", is_flag=True, help="Do not force a GC before each heap profile.")
@click.option("--allocs", is_flag=True, help="Also take the allocs profile.")
@click.option("--base-path", default=None,
              help="Where pprof is mounted [default: the URL's path, else /debug/pprof].")
@click.option("--header", "headers", multiple=True, metavar="'NAME: VALUE'",
              help="Extra request header (repeatable). Values are never stored or printed.")
@click.option("--header-env", "header_envs", multiple=True, metavar="NAME=VAR",
              help="Extra header whose value is read from environment variable VAR (keeps a "
                   "secret off the command line; repeatable).")
@click.option("--token-env", default=None, metavar="VAR",
              help="Send 'Authorization: Bearer $VAR' (the token is read from the environment "
                   "only, never stored).")
@click.option("--insecure", is_flag=True, help="Do not verify TLS certificates.")
@click.option("--ca", type=click.Path(dir_okay=False), default=None,
              help="Trust this CA bundle (PEM) for TLS.")
@_with(_fetch_options("10s", 2))
@click.option("--max-size", default="256MiB", show_default=True,
              help="Largest response accepted (e.g. 64MiB); bigger ones are aborted.")
@click.option("--resume", "resume", type=click.Path(file_okay=False), default=None,
              help="Append to this session directory (same URL and settings).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON on stdout.")
def collect_cmd(url: str | None, interval: str, duration: str | None, count: int | None,
                out: str | None, no_gc: bool, allocs: bool, base_path: str | None,
                headers: tuple[str, ...], header_envs: tuple[str, ...], token_env: str | None,
                insecure: bool, ca: str | None, timeout: str, retries: int, max_size: str,
                resume: str | None, quiet: bool, as_json: bool) -> None:
    """Take heap and goroutine snapshots from a Go service's net/http/pprof endpoint.

    Every tick stores, byte for byte, heap?debug=1&gc=1, heap, /debug/vars (if served),
    goroutine and goroutine?debug=2 (and allocs with --allocs) in a new session directory under
    --out. Without --count or --duration it runs until Ctrl-C; Ctrl-C stops after the current
    snapshot. Failed ticks are recorded and collection goes on; a service that stops answering
    for good (or comes back restarted) is reported at the end with exit code 8.
    """
    import json
    from pathlib import Path
    from typing import Any

    from leaksleuth.collect.collector import CollectConfig, SessionInfo, resume_config
    from leaksleuth.errors import UsageError
    from leaksleuth.units import parse_duration, parse_size

    hdrs: list[tuple[str, str]] = []
    for h in headers:
        name, sep, value = h.partition(":")
        if not sep or not name.strip():
            raise UsageError("--header takes 'Name: value'")
        hdrs.append((name.strip(), value.strip()))
    for h in header_envs:
        name, sep, var = h.partition("=")
        if not sep or not name.strip() or not var.strip():
            raise UsageError("--header-env takes NAME=VAR")
        env_value = os.environ.get(var.strip())
        if not env_value:
            raise UsageError(f"environment variable {var.strip()} (--header-env) is not set")
        hdrs.append((name.strip(), env_value))
    common: dict[str, Any] = {
        "interval": parse_duration(interval),
        "duration": parse_duration(duration) if duration else None,
        "count": count, "headers": tuple(hdrs),
        "timeout": parse_duration(timeout), "retries": retries, "max_bytes": parse_size(max_size),
    }
    if resume:
        if url:
            raise UsageError("give a URL or --resume DIR, not both")
        overrides = {**common, "gc": False if no_gc else None, "with_allocs": allocs or None,
                     "token_env": token_env, "verify": False if insecure else None,
                     "ca": Path(ca) if ca else None}
        config = resume_config(Path(resume), **overrides)
    else:
        if not url:
            raise UsageError("missing URL (e.g. http://127.0.0.1:6060)")
        config = CollectConfig(url=url, base_path=base_path, gc=not no_gc, with_allocs=allocs,
                               token_env=token_env, verify=not insecure,
                               ca=Path(ca) if ca else None, out_dir=Path(_session_root(out)),
                               **common)
    info = _collect_with_progress(config, quiet, then="(Ctrl-C again to abort)")
    assert isinstance(info, SessionInfo)
    if as_json:
        click.echo(json.dumps(info.to_json_dict(), indent=2))
    verb = "interrupted" if info.interrupted else "stopped" if info.store_error else "done"
    click.echo(f"leaksleuth: {verb}: {info.snapshots} snapshot(s) in {info.path}"
               + (f", {info.failed_ticks} failed tick(s)" if info.failed_ticks else "")
               + (f", {info.errors} error(s) recorded" if info.errors else ""), err=True)
    for msg in info.error_messages:
        click.echo(f"  {msg}", err=True)
    if info.store_error:
        from leaksleuth.errors import StoreError

        raise StoreError(info.store_error)
    if info.failed_ticks:
        from leaksleuth.app import session_loss
        from leaksleuth.errors import ServiceLostError

        lost = session_loss(info.path)
        if lost is not None:
            how = "came back restarted" if lost.restarted else "did not come back"
            raise ServiceLostError(f"the service stopped answering during the session and {how} "
                                   f"({lost.failed_ticks} failed tick(s): {lost.reason})")


@cli.command("sessions")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def sessions_cmd(directory: str | None, as_json: bool) -> None:
    """List collected sessions: target, time span, snapshots, Go version.

    DIRECTORY (a sessions directory, or one session's) defaults to $LEAKSLEUTH_SESSIONS or
    ./leaksleuth-sessions. Move sessions with 'leaksleuth export' and 'leaksleuth import'.
    """
    import json
    from pathlib import Path

    from leaksleuth.collect.store import INDEX_NAME, Store, probe, summarize

    root = Path(_session_root(directory))
    single = probe(root / INDEX_NAME, Path.is_file, root)
    # a session directory itself lists just that session
    rows = [summarize(root)] if single else Store(root).sessions()
    if as_json:
        click.echo(json.dumps([r.to_json_dict() for r in rows], indent=2))
        return
    if not rows:
        click.echo(f"no sessions in {_session_root(directory)}", err=True)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("session", "target", "from (UTC)", "span", "snapshots", "failed", "Go",
                  "status", box=None)

    from leaksleuth.units import human_duration, human_time

    for r in rows:
        span = human_duration((r.ended or r.started) - r.started)
        table.add_row(r.id, r.target, human_time(r.started, zone=False), span, str(r.snapshots),
                      str(r.failed_ticks), r.go_version or "?", r.status)
    # piped output keeps whole cells (a terminal gets rich's own fitting)
    Console(width=None if sys.stdout.isatty() else 250).print(table)


@cli.command("export")
@click.argument("session", type=click.Path(file_okay=False, exists=True))
@click.option("-o", "--output", default=None, help="Archive path [default: ./SESSION.tar.gz].")
def export_cmd(session: str, output: str | None) -> None:
    """Pack a session directory into one .tar.gz (to move or attach it)."""
    from leaksleuth.collect.archive import export_session

    click.echo(str(export_session(session, output)))


@cli.command("import")
@click.argument("archive", type=click.Path(dir_okay=False, exists=True))
@click.option("--out", "out", default=None,
              help="Sessions directory [default: $LEAKSLEUTH_SESSIONS or ./leaksleuth-sessions].")
def import_cmd(archive: str, out: str | None) -> None:
    """Unpack a session archive made by 'leaksleuth export' into the sessions directory."""
    from pathlib import Path

    from leaksleuth.collect.archive import import_session
    from leaksleuth.collect.store import Store

    click.echo(str(import_session(archive, Store(Path(_session_root(out))))))

# --- diagnosis commands: diagnose, analyze, demo (a session in, a Diagnosis out) -------------


def _emit_diagnosis(d: object, json_path: str | None) -> None:
    """Print the verdict (rich on a terminal, plain when piped); JSON to a file or '-'."""
    from rich.console import Console

    from leaksleuth.analyze.diagnosis import Diagnosis
    from leaksleuth.report import json as json_report
    from leaksleuth.report import text as text_report

    assert isinstance(d, Diagnosis)
    if json_path == "-":
        click.echo(json_report.to_json(d), nl=False)
        return
    if json_path:
        from leaksleuth.errors import OutputError
        from leaksleuth.fsutil import atomic_write_text

        try:
            atomic_write_text(json_path, json_report.to_json(d))
        except OSError as exc:
            raise OutputError(f"{json_path}: cannot write JSON ({exc.strerror})") from None
    text_report.render(d, Console(highlight=False))


def _exit_if_lost(d: object) -> None:
    """After the diagnosis is out: a service that went away mid-session sets exit code 8."""
    from leaksleuth.analyze.diagnosis import Diagnosis
    from leaksleuth.errors import ServiceLostError

    assert isinstance(d, Diagnosis)
    lost = d.service_lost
    if lost is None:
        return
    how = ("came back restarted" if lost.restarted else "did not come back")
    raise ServiceLostError(f"{d.target}: the service stopped answering during the session and "
                           f"{how} ({lost.failed_ticks} failed tick(s): {lost.reason})")


def _collect_with_progress(config: object, quiet: bool, then: str = "then analysing") -> object:
    """Run the collector with a progress bar. Ctrl-C or SIGTERM (systemd, kubectl, timeout)
    stops after the current snapshot, keeping the session; a second Ctrl-C aborts."""
    import signal
    import threading

    from leaksleuth.collect.collector import CollectConfig, collect

    assert isinstance(config, CollectConfig)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        click.echo(f"\nleaksleuth: stopping after the current snapshot, {then}", err=True)

    old = signal.signal(signal.SIGINT, on_signal)
    old_term = signal.signal(signal.SIGTERM, on_signal)
    try:
        if quiet:
            return collect(config, stop=stop)
        from leaksleuth.report.progress import CollectProgress

        planned = config.count
        if config.duration is not None:
            planned = max(1, int(-(-config.duration // config.interval)))
        with CollectProgress(config.origin, planned, gc=config.gc) as progress:
            return collect(config, stop=stop, on_tick=progress.update)
    finally:
        signal.signal(signal.SIGINT, old)
        signal.signal(signal.SIGTERM, old_term)


_MATERIAL_HELP = ("The growth that matters (e.g. 20kB/s): `no-leak` only when the live heap's "
                  "growth is surely below it [default: 50kB/s, or the heap doubling in 30 min "
                  "if faster; `analyze`/`report`: what the live run used].")


def _material_rate(text: str | None) -> float | None:
    """``--material-rate`` in bytes per second, checked before any work starts."""
    if text is None:
        return None
    from leaksleuth.errors import UsageError
    from leaksleuth.units import parse_rate

    try:
        return parse_rate(text)
    except UsageError as exc:
        raise UsageError(f"--material-rate: {exc}") from None


@cli.command("diagnose")
@click.argument("url")
@click.option("--duration", default="60s", show_default=True, help="Collection window.")
@click.option("--interval", default="5s", show_default=True, help="Time between snapshots.")
@click.option("--pid", type=int, default=None,
              help="The service's PID on this machine: read its executable and its maps (gdb).")
@click.option("--exe", "exe", type=click.Path(dir_okay=False), default=None,
              help="The service's executable (default with --pid: /proc/PID/exe).")
@click.option("--json", "json_path", default=None, metavar="PATH",
              help="Also write the diagnosis as JSON (schema leaksleuth.diagnosis/1); '-' for "
                   "stdout only.")
@click.option("--out", "out", default=None,
              help="Sessions directory [default: $LEAKSLEUTH_SESSIONS or ./leaksleuth-sessions].")
@click.option("--base-path", default=None, help="Where pprof is mounted [default: /debug/pprof].")
@click.option("--token-env", default=None, metavar="VAR",
              help="Send 'Authorization: Bearer $VAR' (read from the environment only).")
@click.option("--insecure", is_flag=True, help="Do not verify TLS certificates.")
@click.option("--html", "html_path", default=None, metavar="PATH",
              help="Also write the self-contained HTML report here.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--material-rate", "material", default=None, metavar="RATE", help=_MATERIAL_HELP)
@_with(_fetch_options("10s", 2))
def diagnose_cmd(url: str, duration: str, interval: str, pid: int | None, exe: str | None,
                 json_path: str | None, out: str | None, base_path: str | None,
                 token_env: str | None, insecure: bool, html_path: str | None,
                 quiet: bool, material: str | None, timeout: str, retries: int) -> None:
    """Collect snapshots of a live Go service, then say whether it leaks, where and why.

    The session is kept on disk (re-run the analysis with `leaksleuth analyze DIR`). A service
    that goes away mid-session is the first thing the verdict says, and the exit code is 8.
    """
    from pathlib import Path

    from leaksleuth.app import diagnose
    from leaksleuth.collect.collector import CollectConfig, SessionInfo
    from leaksleuth.errors import StoreError
    from leaksleuth.units import parse_duration

    material_rate = _material_rate(material)
    config = CollectConfig(url=url, base_path=base_path, interval=parse_duration(interval),
                           duration=parse_duration(duration), token_env=token_env,
                           verify=not insecure, out_dir=Path(_session_root(out)),
                           timeout=parse_duration(timeout), retries=retries)
    info = _collect_with_progress(config, quiet)
    assert isinstance(info, SessionInfo)
    click.echo(f"leaksleuth: session saved in {info.path}", err=True)
    if info.store_error:
        raise StoreError(info.store_error)
    result = diagnose(info.path, live=True, pid=pid, exe=Path(exe) if exe else None,
                      html=bool(html_path), material_rate=material_rate)
    _emit_diagnosis(result.diagnosis, json_path)
    if html_path:
        _write_html(result, html_path)
    _exit_if_lost(result.diagnosis)


@cli.command("analyze")
@click.argument("session_dir", type=click.Path(file_okay=False))
@click.option("--json", "json_path", default=None, metavar="PATH",
              help="Also write the diagnosis as JSON; '-' for stdout only.")
@click.option("--exe", "exe", type=click.Path(dir_okay=False, exists=True), default=None,
              help="The service's executable, for a surer map/slice classification.")
@click.option("--material-rate", "material", default=None, metavar="RATE", help=_MATERIAL_HELP)
def analyze_cmd(session_dir: str, json_path: str | None, exe: str | None,
                material: str | None) -> None:
    """Diagnose a stored session offline (the same analysis as `diagnose`)."""
    from pathlib import Path

    from leaksleuth.app import diagnose

    material_rate = _material_rate(material)
    d = diagnose(Path(session_dir), exe=Path(exe) if exe else None,
                 material_rate=material_rate).diagnosis
    _emit_diagnosis(d, json_path)
    _exit_if_lost(d)


@cli.command("demo")
@click.option("--duration", default="20s", show_default=True, help="Collection window.")
@click.option("--interval", default="1s", show_default=True, help="Time between snapshots.")
@click.option("--json", "json_path", default=None, metavar="PATH",
              help="Also write the diagnosis as JSON; '-' for stdout only.")
@click.option("--out", "out", default=None,
              help="Sessions directory [default: $LEAKSLEUTH_SESSIONS or ./leaksleuth-sessions].")
@click.option("--html", "html_path", default=None, metavar="PATH",
              help="Also write the self-contained HTML report here.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--material-rate", "material", default=None, metavar="RATE", help=_MATERIAL_HELP)
def demo_cmd(duration: str, interval: str, json_path: str | None, out: str | None,
             html_path: str | None, quiet: bool, material: str | None) -> None:
    """Build and run a small leaky Go service, diagnose it live, then stop it."""
    from pathlib import Path

    from leaksleuth.app import diagnose, inspect_pid_maps, running_demo
    from leaksleuth.collect.collector import CollectConfig, SessionInfo
    from leaksleuth.errors import StoreError, ToolchainError
    from leaksleuth.toolchain import ensure_go, find_go
    from leaksleuth.units import parse_duration

    material_rate = _material_rate(material)
    try:
        from leaksleuth.demo import DEMO_SOURCE_DIR
    except ImportError:
        raise ToolchainError("the bundled demo service is missing from this install") from None
    go = find_go() or ensure_go("1.26.6")
    click.echo(f"leaksleuth: building and starting the demo service with {go}", err=True)
    with running_demo(go, Path(DEMO_SOURCE_DIR)) as (url, pid):
        click.echo(f"leaksleuth: demo service pid {pid} at {url}; diagnosing for {duration}",
                   err=True)
        config = CollectConfig(url=url, interval=parse_duration(interval),
                               duration=parse_duration(duration),
                               out_dir=Path(_session_root(out)))
        info = _collect_with_progress(config, quiet)
        assert isinstance(info, SessionInfo)
        if info.store_error:
            raise StoreError(info.store_error)
        # the demo owns the process: read its executable, and its maps when gdb is here
        import shutil

        result = diagnose(info.path, live=True, pid=pid,
                          inspector=inspect_pid_maps if shutil.which("gdb") else None,
                          html=bool(html_path), material_rate=material_rate)
    click.echo(f"leaksleuth: demo stopped; session saved in {info.path}", err=True)
    _emit_diagnosis(result.diagnosis, json_path)
    if html_path:
        _write_html(result, html_path)
    _exit_if_lost(result.diagnosis)


# --- inspection commands: maps, classify (gdb and the executable) -----------------------------


@cli.command("maps")
@click.option("--pid", type=int, default=None, help="Live Go process to attach to (briefly).")
@click.option("--core", "core", type=click.Path(dir_okay=False), default=None,
              help="Core file (e.g. from `gcore PID`); never touches a live process.")
@click.option("--exe", "exe", type=click.Path(dir_okay=False), default=None,
              help="The executable (required with --core; default /proc/PID/exe).")
@click.option("--var", "var", default=None, help="Only this variable (main.cache or cache).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--timeout", type=float, default=60.0, show_default=True,
              help="Seconds before gdb is killed (the target is resumed).")
@click.option("--gdb", "gdb_path", default=None, help="gdb to run (default: $LEAKSLEUTH_GDB or "
              "gdb on PATH).")
def maps_cmd(pid: int | None, core: str | None, exe: str | None, var: str | None,
             as_json: bool, timeout: float, gdb_path: str | None) -> None:
    """Go maps of a process or core: live entries, capacity, deleted slots, bytes held.

    Ranked by bytes held beyond what live entries need. On production, prefer a core from
    `gcore PID`: the process is then stopped only while gcore copies its memory.
    """
    import json as _json

    from leaksleuth.errors import UsageError
    from leaksleuth.inspect.maps import inspect_maps
    from leaksleuth.inspect.text import render_inspection

    if (pid is None) == (core is None):
        raise UsageError("give either --pid PID or --core CORE --exe BIN")
    if core is not None and exe is None:
        raise UsageError("--core needs --exe BIN (gdb cannot read Go types from a core alone)")
    insp = inspect_maps(pid=pid, core=core, exe=exe, var=var, timeout=timeout,
                        gdb_path=gdb_path)
    if as_json:
        click.echo(_json.dumps(insp.to_json_dict(), indent=2))
    else:
        click.echo(render_inspection(insp), nl=False)


@cli.command("classify")
@click.argument("target", metavar="FILE|URL")
@click.option("--exe", "exe", type=click.Path(dir_okay=False), default=None,
              help="The service's executable (stripped ones work too).")
@click.option("--pid", type=int, default=None,
              help="Take the executable from /proc/PID/exe (no attach).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_with(_fetch_options("30s", 1))
def classify_cmd(target: str, exe: str | None, pid: int | None, as_json: bool,
                 timeout: str, retries: int) -> None:
    """Label heap sites as map growth, slice growth, channel, string, goroutine or object.

    FILE is a heap profile in debug=1 text; URL is a pprof endpoint base (its
    heap?debug=1 is fetched). The raw PCs are resolved with the executable's .gopclntab.
    """
    import json as _json
    from dataclasses import asdict
    from pathlib import Path

    from leaksleuth.errors import UsageError
    from leaksleuth.inspect.classify import classify_heap_stacks, summarize
    from leaksleuth.inspect.elf import running_image
    from leaksleuth.inspect.text import render_classification
    from leaksleuth.profile.formats import read_bytes
    from leaksleuth.profile.text import parse_heap_text

    if (exe is None) == (pid is None):
        raise UsageError("give either --exe BIN or --pid PID")
    exe_path = Path(exe) if exe is not None else running_image(pid or 0)
    if target.startswith(("http://", "https://")):
        data, source = _fetch_one(target, "heap", {"debug": "1"}, timeout, retries)
    else:
        data, source = read_bytes(target), target
    heap, _ = parse_heap_text(data, source)
    rows = summarize(classify_heap_stacks(exe_path, heap))
    if as_json:
        click.echo(_json.dumps({"source": source, "exe": str(exe_path),
                                "sites": [asdict(r) for r in rows]}, indent=2))
    else:
        click.echo(render_classification(rows, source, str(exe_path)), nl=False)


# --- report commands: report, flame (self-contained HTML) ------------------------------------


@cli.command("report")
@click.argument("session_dir", type=click.Path(file_okay=False, path_type=str))
@click.option("--html", "html_path", required=True, type=click.Path(dir_okay=False),
              help="Write the self-contained HTML report here.")
@click.option("--exe", "exe", type=click.Path(dir_okay=False, exists=True), default=None,
              help="The service's executable, for a surer map/slice classification.")
@click.option("--material-rate", "material", default=None, metavar="RATE", help=_MATERIAL_HELP)
def report_cmd(session_dir: str, html_path: str, exe: str | None, material: str | None) -> None:
    """Analyse a stored session and write the HTML report (charts, suspects, flame graph)."""
    from pathlib import Path

    from leaksleuth.app import diagnose

    material_rate = _material_rate(material)
    # the same analysis as `analyze` (with the maps a live `diagnose --pid` saved)
    _write_html(diagnose(Path(session_dir), exe=Path(exe) if exe else None, html=True,
                         material_rate=material_rate), html_path)


def _write_html(result: object, html_path: str) -> None:
    """Write the HTML page of an analysis (shared by report, diagnose and demo)."""
    from leaksleuth.app import Analysis
    from leaksleuth.report.html import write_report

    assert isinstance(result, Analysis) and result.html is not None
    out = write_report(html_path, result.html)
    d = result.diagnosis
    click.echo(f"wrote {out} ({d.verdict}, {len(d.suspects)} suspects)")


@cli.command("flame")
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@click.option("--base", "base_file", type=click.Path(dir_okay=False, path_type=str),
              help="Show the change from this profile (a differential flame graph).")
@click.option("--sample-index", default=None, metavar="NAME",
              help="Sample type to draw, e.g. inuse_space, alloc_space (default: the profile's).")
@click.option("--html", "html_path", required=True, type=click.Path(dir_okay=False),
              help="Write the self-contained HTML flame graph here.")
def flame_cmd(file: str, base_file: str | None, sample_index: str | None,
              html_path: str) -> None:
    """Draw a profile (or its change from --base) as an interactive flame graph."""
    if base_file is None:
        from leaksleuth.profile.gunzip import gunzip_ahead

        gunzip_ahead([file])  # on another core while numpy and the rest are imported
    from leaksleuth.report.flame import build_flame, flame_of_file
    from leaksleuth.report.html import render_html, write_report

    if base_file is None:
        flame = flame_of_file(file, sample_index=sample_index, title=file)
    else:
        from leaksleuth.profile.formats import read_profile

        flame = build_flame(read_profile(file), base=read_profile(base_file),
                            sample_index=sample_index, title=f"{file} − {base_file}")
    out = write_report(html_path, render_html(flame=flame))
    click.echo(f"wrote {out} ({flame.nodes} frames of {flame.nodes_before_pruning})")
    _at_once()


# --- fleet watching ---------------------------------------------------------------------------


@cli.command("watch")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="The watch configuration (TOML; see the README's 'Watching a fleet').")
@click.option("--once", is_flag=True,
              help="Run one round (screen, alerts, the diagnoses it starts), print the fleet "
                   "table and exit.")
@click.option("--verbose", "-v", is_flag=True, help="Log every alert transition and capture.")
def watch_cmd(config_path: str, once: bool, verbose: bool) -> None:
    """Watch a fleet of Go services: screen them on Prometheus, diagnose the suspects, alert
    (warning, critical) and capture evidence. Stops cleanly on SIGTERM or Ctrl-C."""
    import logging
    import signal

    from leaksleuth.watch.config import load_config
    from leaksleuth.watch.runner import Watcher

    logging.basicConfig(level=logging.INFO if verbose or not once else logging.WARNING,
                        format="%(asctime)s leaksleuth watch: %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    watcher = Watcher(load_config(config_path))

    def on_signal(signum: int, frame: object) -> None:
        watcher.stop_event.set()

    old = signal.signal(signal.SIGINT, on_signal)
    old_term = signal.signal(signal.SIGTERM, on_signal)
    try:
        if watcher.server is not None:
            click.echo(f"leaksleuth: serving /metrics and /alertmanager on "
                       f"http://{watcher.server.address}", err=True)
        if once:
            report = watcher.run_once()
            _print_fleet(report.results)
            for b in report.bundles:
                click.echo(f"evidence: {b.path} ({b.verdict or 'no verdict'})")
            for e in report.errors:
                click.echo(f"leaksleuth: {e}", err=True)
            watcher.close()
        else:
            watcher.run()
    finally:
        signal.signal(signal.SIGINT, old)
        signal.signal(signal.SIGTERM, old_term)


def _print_fleet(results: list[object]) -> None:
    """The ranked fleet table (the screening renderer), when screening ran."""
    if not results:
        click.echo("leaksleuth: no target screened (no [prometheus] section, or no data)",
                   err=True)
        return
    from leaksleuth.report.fleet import render
    from leaksleuth.watch.screen import ScreenResult

    render([r for r in results if isinstance(r, ScreenResult)], sys.stdout)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: run the CLI and map errors to one line and an exit code."""
    try:
        cli.main(args=argv, prog_name="leaksleuth", standalone_mode=False)
    except LeaksleuthError as exc:
        click.echo(f"leaksleuth: error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("leaksleuth: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        click.echo(f"leaksleuth: error: {exc.format_message()}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("leaksleuth: interrupted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: still one line unless debugging
        if os.environ.get("LEAKSLEUTH_DEBUG"):
            raise
        click.echo(f"leaksleuth: internal error: {type(exc).__name__}: {exc} "
                   "(set LEAKSLEUTH_DEBUG=1 for a traceback)", err=True)
        return 70
    return 0


# Set by commands that leave nothing to clean up at exit (see run).
_exit_at_once = False


def run() -> None:
    """The ``leaksleuth`` command: ``main``, then for ``top``/``diff``/``flame`` an exit without the
    interpreter's teardown, which would free every object of both profiles one by one when
    all that is left is to flush the output."""
    code = main()
    if _exit_at_once:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (BrokenPipeError, ValueError):
            pass
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
