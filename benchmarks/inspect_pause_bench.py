"""How long ``leaksleuth maps`` stops a process holding a 1M-entry map, against a naive walk.

Part 1 (the target): build tests/goprogs/maps with Go 1.23.9 (classic) and 1.26.6 (Swiss), fill
``main.huge`` with 1,000,000 entries, and run ``inspect_maps(pid=..., var="huge")``. The figure
is the stop time measured inside gdb from ``attach`` to ``detach``. Reference, measured in the
same run: a naive gdb walk reading the map slot by slot through gdb.Value (what a hand-written
or runtime-gdb.py-style iteration does), timed on a sample of slots and extrapolated to the whole
map while attached. Target: under 1 second.

Part 2: resolving the raw PCs of a heap profile with the executable: our ``.gopclntab`` reader
against gdb ``info symbol`` in batch and the ELF ``.symtab`` via pyelftools.

Run: python benchmarks/inspect_pause_bench.py  (needs gdb and the Go toolchains; ~1 minute)
"""

from __future__ import annotations

import bisect
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from leaksleuth.inspect.classify import classify_heap_stacks  # noqa: E402
from leaksleuth.inspect.maps import inspect_maps  # noqa: E402
from leaksleuth.inspect.pclntab import PcTable  # noqa: E402
from leaksleuth.profile.text import parse_heap_text  # noqa: E402
from leaksleuth.toolchain import build, ensure_go  # noqa: E402
from support.goservice import run_go  # noqa: E402

ENTRIES = 1_000_000
TARGET_SECONDS = 1.0
NAIVE_SAMPLE_SLOTS = 4000

NAIVE_SCRIPT = r'''
import time, gdb
gdb.execute("set pagination off")
gdb.execute("file " + EXE)
t0 = time.monotonic()
gdb.execute("attach " + str(PID), to_string=True)
v = gdb.lookup_global_symbol("main.huge").value().dereference()
slots = full = 0
if "buckets" in [f.name for f in v.type.fields()]:
    nb = 1 << int(v["B"])
    b = v["buckets"]
    i = 0
    while slots < SAMPLE and i < nb:
        bucket = (b + i).dereference()
        for j in range(8):
            slots += 1
            if int(bucket["tophash"][j]) >= 5:
                full += 1
        i += 1
    total_slots = nb * 8
else:
    dlen = int(v["dirLen"])
    d = v["dirPtr"]
    total_slots = 0
    seen = set()
    for k in range(dlen):
        t = (d + k).dereference()
        if int(t) in seen:
            continue
        seen.add(int(t))
        groups = t.dereference()["groups"]
        total_slots += (int(groups["lengthMask"]) + 1) * 8
    t = d.dereference().dereference()
    g = t["groups"]["data"]
    gi = 0
    while slots < SAMPLE:
        grp = (g + gi).dereference()
        ctrl = int(grp["ctrl"])
        for j in range(8):
            slots += 1
            c = (ctrl >> (8 * j)) & 0xFF
            _ = grp["slots"][j]["key"]
            if c < 0x80:
                full += 1
        gi += 1
elapsed = time.monotonic() - t0
gdb.execute("detach", to_string=True)
print("NAIVE", slots, total_slots, elapsed)
'''


def naive_walk(exe: Path, pid: int) -> tuple[int, int, float]:
    """(slots walked, total slots, seconds attached) of the naive per-slot gdb walk."""
    script = NAIVE_SCRIPT.replace("EXE", repr(str(exe))).replace("PID", str(pid)).replace(
        "SAMPLE", str(NAIVE_SAMPLE_SLOTS))
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(script)
    try:
        res = subprocess.run(["gdb", "-batch", "-nx", "-iex", "set auto-load python-scripts off",
                              "-x", fh.name], capture_output=True, text=True, timeout=300,
                             check=False)
        out = res.stdout + res.stderr
    finally:
        os.unlink(fh.name)
    line = next((x for x in out.splitlines() if x.startswith("NAIVE")), "")
    if not line:
        raise RuntimeError(f"naive walk failed: {out[-1000:]}")
    _, walked, total, secs = line.split()
    return int(walked), int(total), float(secs)


def gdb_info_symbol(exe: Path, pcs: list[int]) -> float:
    cmds: list[str] = []
    for pc in pcs:
        cmds += ["-ex", f"info symbol {pc - 1:#x}"]
    t0 = time.monotonic()
    subprocess.run(["gdb", "-batch", "-nx", "-iex", "set auto-load python-scripts off",
                    str(exe), *cmds], capture_output=True, text=True, timeout=300, check=False)
    return time.monotonic() - t0


def symtab_names(exe: Path, pcs: list[int]) -> list[str | None]:
    """The reference for the .gopclntab reader: return PCs resolved with the ELF ``.symtab``
    read by pyelftools (absent from stripped executables; leaksleuth itself does not use it)."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    with open(exe, "rb") as fh:
        sec = ELFFile(fh).get_section_by_name(".symtab")
        syms = sorted((int(sym["st_value"]), int(sym["st_size"]), sym.name)
                      for sym in (sec.iter_symbols() if isinstance(sec, SymbolTableSection)
                                  else ())
                      if sym["st_info"]["type"] == "STT_FUNC" and sym["st_value"])
    starts = [s[0] for s in syms]
    out: list[str | None] = []
    for pc in pcs:  # pc - 1: the call before the return address
        i = bisect.bisect_right(starts, pc - 1) - 1
        start, size, name = syms[i] if i >= 0 else (0, 0, "")
        out.append(name if i >= 0 and (size == 0 or pc - 1 < start + size) else None)
    return out


def main() -> int:
    prog = ROOT / "tests" / "goprogs" / "maps"
    ok = True
    print(f"{'go':8} {'layout':8} {'entries':>9} {'stopped':>9} {'reads':>6} {'MiB read':>9} "
          f"{'naive (extrapolated)':>21}  verdict")
    for version in ("1.23.9", "1.26.6"):
        exe = build(prog, ensure_go(version))
        with run_go(exe, "-big", "1000", "-huge", str(ENTRIES), timeout=120) as svc:
            svc.wait_line("TRUTH ", timeout=120)
            insp = inspect_maps(pid=svc.pid, var="huge", timeout=120)
            m = insp.maps[0]
            assert m.live_entries == ENTRIES, m
            walked, total, secs = naive_walk(exe, svc.pid)
            naive = secs / max(walked, 1) * total
            stopped = insp.stopped_seconds or 0.0
            verdict = "OK" if stopped < TARGET_SECONDS else f"SLOW (target {TARGET_SECONDS}s)"
            ok &= stopped < TARGET_SECONDS
            print(f"{insp.go_version:8} {insp.layout:8} {m.live_entries:>9} {stopped:>8.3f}s "
                  f"{insp.reads:>6} {insp.bytes_read / 2**20:>9.1f} {naive:>20.1f}s  {verdict}"
                  f"  (naive: {walked} slots in {secs:.2f}s, x{total // max(walked, 1)})")
            data = subprocess.run(["curl", "-s", f"{svc.url}/debug/pprof/heap?debug=1"],
                                  capture_output=True, timeout=30, check=False).stdout
        heap, _ = parse_heap_text(data, "heap")
        pcs = sorted({heap.location(int(i)).address for i in heap.stack_locations.tolist()})
        t0 = time.monotonic()
        table = PcTable(exe)
        names = [table.lookup(pc) for pc in pcs]
        t_pcln = time.monotonic() - t0
        t0 = time.monotonic()
        classify_heap_stacks(exe, heap, table)
        t_class = time.monotonic() - t0
        t_gdb = gdb_info_symbol(exe, pcs)
        t0 = time.monotonic()
        names_symtab = symtab_names(exe, pcs)
        t_symtab = time.monotonic() - t0
        agree = sum(a == b for a, b in zip(names, names_symtab, strict=True))
        print(f"  symbolize {len(pcs)} PCs: .gopclntab {t_pcln * 1000:.1f} ms (+classify "
              f"{t_class * 1000:.1f} ms) | gdb info symbol {t_gdb * 1000:.0f} ms | pyelftools "
              f".symtab {t_symtab * 1000:.0f} ms | names agree with .symtab: {agree}/{len(pcs)}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
