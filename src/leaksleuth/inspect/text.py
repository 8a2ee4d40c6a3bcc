"""Plain-text rendering of a ``MapInspection`` for the ``maps`` command."""

from __future__ import annotations

from leaksleuth.inspect.classify import SiteKind
from leaksleuth.inspect.maps import MapInspection, MapReport
from leaksleuth.textsafe import printable, printable_tree
from leaksleuth.units import human_bytes


def _shape(m: MapReport) -> str:
    if m.layout == "classic":
        s = f"{m.buckets} buckets + {m.overflow_buckets} overflow"
        if m.growing:
            s += f", growing: {m.old_buckets} old buckets, {m.nevacuate} evacuated"
    elif m.layout == "swiss":
        s = ("1 group (small map)" if m.details.get("small")
             else f"{m.tables} tables, {m.groups} groups, directory {m.directory_length}")
    else:
        form = m.details.get("form")
        s = (f"hash trie: {m.details.get('trie_nodes')} nodes" if form == "hash-trie"
             else f"read+dirty maps, {m.details.get('entries')} entries")
    if m.maps > 1:
        s = f"{m.maps} maps: " + s
    return s


def render_inspection(insp: MapInspection) -> str:
    """Ranked table of maps, then how long the target was stopped (names made printable)."""
    insp = printable_tree(insp)
    lines = [f"{insp.target} · {insp.exe} · {insp.go_version} ({insp.layout} maps)", ""]
    if not insp.maps:
        lines.append("no maps found in package-level variables")
    hdr = f"{'variable':32} {'live':>9} {'capacity':>9} {'deleted':>8} {'held':>10} " \
          f"{'needed':>10} {'ratio':>7}  shape"
    if insp.maps:
        lines.append(hdr)
    for m in insp.maps:
        ratio = "inf" if not m.bytes_needed else f"{m.ratio:.1f}x"
        lines.append(f"{m.variable[:32]:32} {m.live_entries:>9} {m.capacity_slots:>9} "
                     f"{m.deleted_slots:>8} {human_bytes(m.bytes_held):>10} "
                     f"{human_bytes(m.bytes_needed):>10} {ratio:>7}  {_shape(m)}")
    lines.append("")
    if insp.stopped_seconds is not None:
        lines.append(f"target stopped {insp.stopped_seconds * 1000:.0f} ms "
                     f"({insp.reads} reads, {human_bytes(insp.bytes_read)}); gdb ran "
                     f"{insp.gdb_seconds:.2f} s; the process was left running")
        lines.append("tip: on production prefer `gcore PID` and "
                     "`leaksleuth maps --core CORE --exe BIN`")
    else:
        lines.append(f"read from a core file ({insp.reads} reads); gdb ran "
                     f"{insp.gdb_seconds:.2f} s")
    lines.extend(f"warning: {w}" for w in insp.warnings)
    return "\n".join(lines) + "\n"


def render_classification(rows: list[SiteKind], source: str, exe: str) -> str:
    """Heap sites with the kind of allocation the hidden runtime frames reveal."""
    rows, source, exe = printable_tree(rows), printable(source), printable(exe)
    lines = [f"{source} · symbols from {exe}", "",
             f"{'in use':>10} {'allocated':>10} {'kind':13} site  (runtime frame)"]
    for r in rows:
        marker = f"  ({', '.join(r.markers)})" if r.markers else ""
        lines.append(f"{human_bytes(r.inuse_bytes):>10} {human_bytes(r.alloc_bytes):>10} "
                     f"{r.kind:13} {r.site}{marker}")
    if not rows:
        lines.append("no samples")
    return "\n".join(lines) + "\n"
