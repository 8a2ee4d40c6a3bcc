"""Terminal rendering of a ``Diagnosis`` with rich: verdict, evidence, suspects, fixes.

Colour and styles only on a terminal; piped output is the same text without escape codes
(rich decides from the console). Sparklines are plain Unicode block characters, so they
survive both.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from leaksleuth.analyze.diagnosis import Diagnosis, Suspect
from leaksleuth.textsafe import printable_tree
from leaksleuth.units import human_bytes, human_duration, human_p, human_rate, human_time

BLOCKS = "▁▂▃▄▅▆▇█"
VERDICT_STYLE = {
    "leak": "bold white on red",
    "retention": "bold black on yellow",
    "no-leak": "bold black on green",
    "inconclusive": "bold black on bright_black",
}
MAX_FRAMES = 8


def sparkline(values: Sequence[float], width: int = 32) -> str:
    """A one-line chart of ``values`` (resampled to ``width`` by averaging)."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not vals:
        return ""
    if len(vals) > width:
        step = len(vals) / width
        vals = [
            sum(vals[int(i * step): max(int((i + 1) * step), int(i * step) + 1)])
            / len(vals[int(i * step): max(int((i + 1) * step), int(i * step) + 1)])
            for i in range(width)
        ]
    lo, hi = min(vals), max(vals)
    if hi <= lo:
        return BLOCKS[0] * len(vals)
    scale = (len(BLOCKS) - 1) / (hi - lo)
    return "".join(BLOCKS[round((v - lo) * scale)] for v in vals)


def _header(d: Diagnosis) -> Text:
    t = Text()
    t.append(f" {d.verdict.upper()} ", style=VERDICT_STYLE.get(d.verdict, "bold"))
    if d.service_lost is not None:
        lost = "SERVICE RESTARTED" if d.service_lost.restarted else "SERVICE LOST"
        t.append(" ")
        t.append(f" {lost} ", style="bold white on red")
    t.append("  ")
    t.append(d.target or "(unknown target)", style="bold")
    if d.go_version:
        t.append(f"  go{d.go_version.removeprefix('go')}", style="cyan")
    span = d.window.end - d.window.start
    t.append(f"\n{d.window.snapshots} snapshots over {human_duration(span)}, "
             f"{d.window.gc_cycles} GC cycles, from {human_time(d.window.start)}", style="dim")
    t.append("\n\n")
    t.append(d.summary)
    return t


def _evidence_block(d: Diagnosis) -> Text:
    h = d.heap
    t = Text()
    if h.floor_bytes:
        t.append("heap floor  ", style="bold")
        t.append(sparkline(h.floor_bytes), style="magenta")
        t.append(f"  {human_bytes(h.floor_bytes[0])} -> {human_bytes(h.floor_bytes[-1])}")
        t.append(f"  {human_rate(h.growth_bytes_per_second)}", style="bold")
        t.append(f"  p={human_p(h.growth_p_value)}", style="dim")
        if h.plateau:
            t.append("  (grew, then levelled off)", style="yellow")
        t.append("\n")
    sens = d.sensitivity
    if sens is not None:
        det = sens.detectable_bytes_per_second
        t.append("sensitivity ", style="bold")
        t.append(f"noise ±{human_bytes(sens.noise_bytes)}; catches "
                 + (f">= {human_rate(det)}" if det is not None else "nothing (too few points)")
                 + f" ({sens.detection_probability:.0%})")
        if sens.growth_upper_bytes_per_second is not None:
            t.append(f"; slope < {human_rate(max(sens.growth_upper_bytes_per_second, 0.0))} "
                     f"({sens.confidence:.0%})")
        watch = (f"~{human_duration(sens.watch_seconds)}" if sens.watch_seconds is not None
                 else "over a week")
        t.append(f"\n            to see {human_rate(sens.material_bytes_per_second)}, watch "
                 f"{watch} (a snapshot every {human_duration(sens.interval_seconds)})\n",
                 style="yellow" if d.verdict == "inconclusive" else "dim")
    if h.heap_alloc and any(h.heap_alloc):
        t.append("HeapAlloc   ", style="bold")
        t.append(sparkline(h.heap_alloc), style="blue")
        t.append(f"  max {human_bytes(max(h.heap_alloc))}, NextGC last "
                 f"{human_bytes(h.next_gc[-1] if h.next_gc else 0)}\n")
    g = d.goroutines
    if g.counts:
        t.append("goroutines  ", style="bold")
        t.append(sparkline(g.counts), style="cyan")
        t.append(f"  {g.counts[0]} -> {g.counts[-1]}\n")
    if h.stack_inuse and any(h.stack_inuse):
        t.append("StackInuse  ", style="bold")
        t.append(sparkline(h.stack_inuse), style="cyan")
        t.append(f"  {human_bytes(h.stack_inuse[0])} -> {human_bytes(h.stack_inuse[-1])}\n")
    for grp in g.growing_groups[:5]:
        t.append(f"  growing group {grp.function}: {grp.counts[0] if grp.counts else 0} -> "
                 f"{grp.counts[-1] if grp.counts else 0} ({grp.growth_per_second:.1f}/s), "
                 f"{', '.join(grp.states[:3]) or 'state unknown'}\n", style="yellow")
    return t


def _suspect_block(s: Suspect) -> Panel:
    t = Text()
    t.append(f"{s.kind}", style="bold red" if s.kind != "heap-growth" else "bold yellow")
    t.append(f"  confidence {s.confidence:.2f}", style="dim")
    t.append("\n")
    facts = [f"grows {human_rate(s.growth_bytes_per_second)}" if s.growth_bytes_per_second
             else "held, not growing",
             f"{human_bytes(s.inuse_bytes)} in use"]
    if s.goroutines is not None:
        facts.append(f"{s.goroutines} goroutines")
    if s.allocation:
        facts.append(s.allocation)
    if s.steady:
        facts.append("long-lived")
    if s.variable:
        facts.append(f"variable {s.variable}")
    t.append("  ".join(facts))
    if s.inuse_series:
        t.append("  ")
        t.append(sparkline(s.inuse_series, 24), style="magenta")
    t.append("\n")
    if s.stack:
        t.append("stack (leaf first):\n", style="bold")
        for f in s.stack[:MAX_FRAMES]:
            t.append(f"  {f}\n", style="bold" if f == s.function else "")
        if len(s.stack) > MAX_FRAMES:
            t.append(f"  ... {len(s.stack) - MAX_FRAMES} more\n", style="dim")
    t.append("why:", style="bold")
    why = Table.grid(padding=(0, 1))
    why.add_column(width=3, justify="right")
    why.add_column(ratio=1)
    for e in s.evidence:
        why.add_row("-", Text(e))
    fix = Table.grid(padding=(0, 1))
    fix.add_column(width=4)
    fix.add_column(ratio=1)
    fix.add_row(Text("fix:", style="bold green"), Text(s.advice))
    title = f"#{s.rank} {escape(s.function)}"
    return Panel(Group(t, why, fix), title=title, title_align="left",
                 border_style="red" if s.rank == 1 else "dim")


def render(d: Diagnosis, console: Console) -> None:
    """Print the diagnosis to ``console``.

    Every string in it may hold a name from the service, so all are made printable first.
    """
    d = printable_tree(d)
    console.print(_header(d))
    console.print()
    console.print(_evidence_block(d))
    if d.suspects:
        console.print(Text("Suspects, most likely first", style="bold underline"))
        console.print(Group(*(_suspect_block(s) for s in d.suspects)))
    elif d.verdict == "leak":
        console.print("No single allocation site or goroutine group explains the growth.")
    notes = d.settings.get("notes") or ()
    for note in notes if isinstance(notes, list | tuple) else (notes,):
        console.print(Text(f"note: {note}", style="yellow"))
    for m in d.maps:
        console.print(f"map {m.variable} ({m.type}, {m.layout}): {m.live_entries} live entries, "
                      f"{m.deleted_slots} deleted, {human_bytes(m.bytes_held)} held for "
                      f"{human_bytes(m.bytes_needed)} needed", markup=False)


def to_text(d: Diagnosis, width: int = 100, color: bool = False) -> str:
    """The rendering as a string (plain unless ``color``), e.g. for tests and files."""
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=color, color_system=None
                      if not color else "standard", highlight=False)
    render(d, console)
    return buf.getvalue()
