"""What to watch: targets from a config list or discovered from Prometheus' scrape targets.

A label selector is either a mapping (equality on each label) or PromQL matcher text such as
``{job=~"api.*", env!="dev"}`` (``=``, ``!=``, ``=~``, ``!~``; regexes are fully anchored, as
in Prometheus). The same selector filters ``/api/v1/targets`` and is put into the screening
queries, so both see the same instances.

``pprof_url_template`` maps a scrape target to its ``net/http/pprof`` base URL with
``str.format`` placeholders:

- ``{scheme}``, ``{host}``, ``{port}``: from the target's scrape URL;
- ``{address}``: ``host:port`` of the scrape URL (``__address__``);
- ``{metrics_path}``: the scrape URL's path;
- ``{job}``, ``{instance}`` and any other target label by name (labels that are not Python
  identifiers are not reachable).

``"{scheme}://{address}/debug/pprof"`` (the default) suits services that serve pprof beside
``/metrics``; ``"http://{host}:6060/debug/pprof"`` one with pprof on a side port. An empty
template means screen only (``pprof_url`` None).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from leaksleuth.errors import UsageError
from leaksleuth.watch.prom import PromAPI, ScrapeTarget

DEFAULT_PPROF_TEMPLATE = "{scheme}://{address}/debug/pprof"
IDENTITY_LABELS = ("job", "instance")


@dataclass(frozen=True)
class Target:
    """One service instance to watch."""

    name: str  # unique, "job/instance" when discovered
    pprof_url: str | None  # base URL of net/http/pprof (layer 2); None = screen only
    pid: int | None = None  # local PID, for gdb (layer 3)
    labels: Mapping[str, str] = field(default_factory=dict)  # identify its Prometheus series
    memory_limit_bytes: int | None = None  # configured limit (cgroup, container, config)


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str  # "=", "!=", "=~", "!~"
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        have = labels.get(self.name, "")
        if self.op == "=":
            return have == self.value
        if self.op == "!=":
            return have != self.value
        hit = re.fullmatch(self.value, have) is not None
        return hit if self.op == "=~" else not hit

    def promql(self) -> str:
        return f'{self.name}{self.op}"{_escape(self.value)}"'


_MATCHER = re.compile(
    r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def _escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), s)


def parse_selector(selector: Mapping[str, str] | str | None) -> list[Matcher]:
    """Matchers of a selector (see the module docstring); UsageError when it does not parse."""
    if selector is None:
        return []
    if isinstance(selector, Mapping):
        return [Matcher(str(k), "=", str(v)) for k, v in selector.items()]
    text = selector.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    out: list[Matcher] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _MATCHER.match(text, pos)
        if m is None:
            raise UsageError(f"bad label selector {selector!r} near {text[pos:pos + 20]!r}")
        name, op, raw = m.group(1), m.group(2), _unescape(m.group(3))
        if op in ("=~", "!~"):
            try:
                re.compile(raw)
            except re.error as exc:
                raise UsageError(f"bad regex in selector {selector!r}: {exc}") from None
        out.append(Matcher(name, op, raw))
        pos = m.end()
    return out


def selector_promql(matchers: Sequence[Matcher]) -> str:
    """The matchers as the inside of a PromQL ``{...}`` (empty string for none)."""
    return ",".join(m.promql() for m in matchers)


def matches(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def target_name(labels: Mapping[str, str]) -> str:
    """``job/instance`` (or whichever of them exists) naming one series' owner."""
    parts = [labels[k] for k in IDENTITY_LABELS if labels.get(k)]
    if parts:
        return "/".join(parts)
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "(no labels)"


def pprof_url_for(st: ScrapeTarget, template: str) -> str | None:
    """The pprof base URL of one scrape target from ``template`` (None when it is empty)."""
    if not template:
        return None
    u = urlsplit(st.scrape_url)
    host = u.hostname or ""
    port = str(u.port) if u.port else ""
    address = u.netloc.rsplit("@", 1)[-1] or st.labels.get("instance", "")
    fields: dict[str, str] = {k: v for k, v in st.labels.items() if k.isidentifier()}
    fields.update(scheme=u.scheme or "http", host=host, port=port, address=address,
                  metrics_path=u.path)
    try:
        return template.format(**fields).rstrip("/")
    except (KeyError, IndexError, ValueError) as exc:
        raise UsageError(f"pprof URL template {template!r}: no placeholder {exc}") from None


def discover(
    api: PromAPI,
    selector: Mapping[str, str] | str | None,
    pprof_url_template: str = DEFAULT_PPROF_TEMPLATE,
) -> list[Target]:
    """The active scrape targets matching ``selector``, as Targets keyed by job and instance."""
    matchers = parse_selector(selector)
    out: list[Target] = []
    seen: set[str] = set()
    for st in api.targets():
        if not matches(matchers, st.labels):
            continue
        ident = {k: st.labels[k] for k in IDENTITY_LABELS if k in st.labels}
        name = target_name(ident or st.labels)
        if name in seen:
            continue
        seen.add(name)
        out.append(Target(name=name, pprof_url=pprof_url_for(st, pprof_url_template),
                          labels=ident or dict(st.labels)))
    return out


def targets_from_config(entries: Sequence[Mapping[str, Any]]) -> list[Target]:
    """Targets from a config's static list: ``name``, ``pprof_url``, optional ``pid``,
    ``labels`` and ``memory_limit_bytes``; UsageError naming the bad entry otherwise."""
    out: list[Target] = []
    seen: set[str] = set()
    for i, e in enumerate(entries):
        if not isinstance(e, Mapping):
            raise UsageError(f"target #{i + 1}: not a mapping")
        name = e.get("name")
        if not isinstance(name, str) or not name:
            raise UsageError(f"target #{i + 1}: 'name' is required")
        if name in seen:
            raise UsageError(f"target {name!r}: duplicate name")
        seen.add(name)
        url = e.get("pprof_url")
        if url is not None and not isinstance(url, str):
            raise UsageError(f"target {name!r}: 'pprof_url' must be a string")
        pid = e.get("pid")
        if pid is not None and (not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0):
            raise UsageError(f"target {name!r}: 'pid' must be a positive integer")
        labels = e.get("labels") or {}
        if not isinstance(labels, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
            raise UsageError(f"target {name!r}: 'labels' must map strings to strings")
        limit = e.get("memory_limit_bytes")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)
                                  or limit <= 0):
            raise UsageError(f"target {name!r}: 'memory_limit_bytes' must be a positive integer")
        out.append(Target(name=name, pprof_url=url.rstrip("/") if url else None, pid=pid,
                          labels=dict(labels), memory_limit_bytes=limit))
    return out
