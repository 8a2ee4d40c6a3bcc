"""The self-contained HTML report: a Diagnosis (and/or a flame graph) in one file.

Everything is inlined (vendored uPlot and d3-flame-graph, our glue, the data), so the file opens
air-gapped and a Content-Security-Policy forbids any fetch. Text from profiles reaches the page
two ways only: through Jinja's autoescape, or inside the JSON data block, where ``<``, ``>``,
``&`` and the JS line separators are \\u-escaped so nothing can close the ``<script>`` element.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from leaksleuth import __version__
from leaksleuth.analyze.diagnosis import Diagnosis
from leaksleuth.errors import OutputError
from leaksleuth.fsutil import atomic_write_text
from leaksleuth.report.flame import FlameGraph
from leaksleuth.report.json import finite
from leaksleuth.units import human_bytes, human_duration, human_rate, human_time

_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                 "\u2028": "\\u2028", "\u2029": "\\u2029"}


def script_json(obj: Any) -> str:
    """JSON that is safe verbatim inside ``<script type="application/json">``."""
    text = json.dumps(finite(obj, str_keys=True), ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False)
    for raw, esc in _JSON_ESCAPES.items():
        text = text.replace(raw, esc)
    return text


def _inline_js(code: str) -> str:
    """A script body that cannot end its own element early (``<\\/script`` means the same)."""
    return code.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")


@dataclass(frozen=True)
class _Assets:
    scripts: tuple[str, ...]
    styles: tuple[str, ...]
    libraries: tuple[dict[str, str], ...]


@lru_cache(maxsize=1)
def _assets() -> _Assets:
    """Vendored library files in manifest (load) order, then our glue."""
    root = resources.files("leaksleuth.report") / "assets"
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    scripts: list[str] = []
    styles: list[str] = []
    libs: list[dict[str, str]] = []
    for pkg in manifest["packages"]:
        libs.append({"name": pkg["name"], "version": pkg["version"], "license": pkg["license"]})
        for entry in pkg["files"]:
            text = (root / entry["file"]).read_text(encoding="utf-8")
            if entry["file"].endswith(".css"):
                styles.append(text.replace("</", "<\\/"))
            else:
                scripts.append(_inline_js(text))
    glue = resources.files("leaksleuth.report") / "templates" / "report.js"
    scripts.append(_inline_js(glue.read_text(encoding="utf-8")))
    return _Assets(tuple(scripts), tuple(styles), tuple(libs))


def _bytes(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return human_bytes(float(v))


def _rate(v: Any) -> str:
    if v is None or not math.isfinite(float(v)):
        return "–"
    return human_rate(float(v))


def _value(v: Any, unit: str) -> str:
    if unit == "bytes":
        return _bytes(v)
    if unit == "nanoseconds":
        return f"{float(v) / 1e9:.3f} s"
    return f"{v}" if unit in ("count", "") else f"{v} {unit}"


def _utc(ts: Any) -> str:
    try:
        return human_time(float(ts))
    except (OverflowError, OSError, ValueError):
        return "–"


def _duration(seconds: Any) -> str:
    return human_duration(max(float(seconds), 0.0))


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("leaksleuth.report", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=False,
    )
    env.filters.update(bytes=_bytes, rate=_rate, value=_value, utc=_utc, duration=_duration)
    return env


def render_html(diagnosis: Diagnosis | None = None, *, flame: FlameGraph | None = None,
                title: str | None = None, flame_heading: str | None = None,
                generated: float | None = None) -> str:
    """One self-contained HTML page for a diagnosis, a flame graph, or both."""
    if diagnosis is None and flame is None:
        raise ValueError("nothing to render: give a diagnosis or a flame graph")
    assets = _assets()
    groups: list[dict[str, Any]] = []
    if diagnosis is not None:
        growing = {(g.function, g.stack) for g in diagnosis.goroutines.growing_groups}
        src = diagnosis.goroutines.groups or diagnosis.goroutines.growing_groups
        for g in sorted(src, key=lambda g: -(g.counts[-1] if g.counts else 0)):
            row = dict(vars(g))
            row["growing"] = (g.function, g.stack) in growing
            groups.append(row)
    if title is None:
        suffix = f": {flame.title}" if flame is not None and flame.title else ""
        title = (f"leaksleuth: {diagnosis.verdict} — {diagnosis.target}" if diagnosis
                 else f"leaksleuth flame graph{suffix}")
    if flame_heading is None:
        flame_heading = ("What grew between the first and the last snapshot (in-use memory)"
                         if flame is not None and flame.differential and diagnosis is not None
                         else f"Flame graph{': ' + flame.title if flame and flame.title else ''}")
    data = {
        "diagnosis": diagnosis.to_json_dict() if diagnosis is not None else None,
        "flame": flame.to_json_dict() if flame is not None else None,
    }
    page = _env().get_template("report.html.j2").render(
        d=diagnosis, flame=flame, groups=groups, title=title, flame_heading=flame_heading,
        version=__version__, generated=generated if generated is not None else time.time(),
        libraries=assets.libraries,
        # Markup: vendored files and our glue; the data is escaped by script_json
        styles=[Markup(s) for s in assets.styles],
        scripts=[Markup(s) for s in assets.scripts],
        data_json=Markup(script_json(data)),
    )
    # a lone surrogate (a name that was not UTF-8) cannot be written as UTF-8: show "?"
    return page.encode("utf-8", "replace").decode("utf-8") if not page.isascii() else page


def write_report(path: str | Path, html: str) -> Path:
    """Write the page atomically (a half-written report is worse than none)."""
    out = Path(path)
    if out.is_dir():
        raise OutputError(f"{out}: is a directory; give a file name for the HTML report")
    try:
        atomic_write_text(out, html)
    except OSError as exc:
        raise OutputError(f"{out}: cannot write the report ({exc.strerror})") from None
    return out
