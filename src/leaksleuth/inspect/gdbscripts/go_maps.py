"""Runs inside gdb's Python: read Go maps of a live process or a core, print one JSON document.

Parameters come as JSON in the environment variable ``LEAKSLEUTH_GDB_PARAMS``. The script loads
the executable and finds the variables *before* attaching, so the target is stopped only while
raw memory is read: one read per bucket array, group array, table or overflow bucket, never one
per slot. Slots are then counted from the bytes with C-level slicing (``buf[j::size]``). The
script reports structure only; byte accounting lives in ``leaksleuth.inspect.maps``.

Offsets come from the DWARF types gdb reads (``hash<K,V>``, ``bucket<K,V>``, ``map<K,V>``,
``table<K,V>``, ``noalg.map.group[K]V``, ``sync.Map``...), not from constants.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import struct
import time
import traceback
from typing import Any

import gdb

BEGIN = "@@LEAKSLEUTH-JSON-BEGIN@@"
END = "@@LEAKSLEUTH-JSON-END@@"

# classic tophash values (runtime/map.go)
EMPTY_REST, EMPTY_ONE, EVAC_X, EVAC_Y, EVAC_EMPTY, MIN_TOPHASH = 0, 1, 2, 3, 4, 5
SAME_SIZE_GROW = 8
CHUNK_BYTES = 32 << 20  # largest single read of a classic bucket array
# Swiss control bytes (internal/runtime/maps/group.go)
CTRL_EMPTY, CTRL_DELETED = 0x80, 0xFE
# byte -> category letter, so one translate() + count() classifies a whole array of ctrl bytes
CLASSIC_CAT = bytes(
    [ord("R"), ord("O"), ord("V"), ord("V"), ord("V")] + [ord("F")] * 251
)
SWISS_CAT = bytes(
    [ord("F")] * 128 + [ord("?")] * 128
)
SWISS_CAT = SWISS_CAT[:CTRL_EMPTY] + b"E" + SWISS_CAT[CTRL_EMPTY + 1 : CTRL_DELETED] + b"D" + b"?"


class Failure(Exception):
    """An error with a machine-readable kind, reported in the JSON document."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def emit(doc: dict[str, Any]) -> None:
    print(BEGIN)
    print(json.dumps(doc))
    print(END)


class Reader:
    """Memory reads, counted, so the report can say how many it took."""

    def __init__(self) -> None:
        self.inferior = gdb.selected_inferior()
        self.reads = 0
        self.bytes = 0

    def read(self, addr: int, size: int) -> bytes:
        self.reads += 1
        self.bytes += size
        try:
            return bytes(self.inferior.read_memory(addr, size))
        except gdb.MemoryError as exc:
            raise Failure("memory", f"cannot read {size} bytes at {addr:#x}: {exc}") from None

    def ptr(self, addr: int) -> int:
        return int(struct.unpack("<Q", self.read(addr, 8))[0])


def field_offsets(t: Any) -> dict[str, tuple[int, Any]]:
    t = t.strip_typedefs()
    return {f.name: (f.bitpos // 8, f.type) for f in t.fields() if f.name}


def atomic_target(t: Any) -> Any:
    """T of a ``sync/atomic.Pointer[T]`` (its ``_ [0]*T`` field)."""
    for f in t.strip_typedefs().fields():
        ft = f.type.strip_typedefs()
        if f.name == "_" and ft.code == gdb.TYPE_CODE_ARRAY:
            return ft.target().strip_typedefs().target().strip_typedefs()
    raise Failure("type", f"{t} is not an atomic.Pointer")


def u(buf: bytes, off: int, size: int) -> int:
    return int.from_bytes(buf[off : off + size], "little")


def has_pointers(t: Any, depth: int = 0) -> bool:
    t = t.strip_typedefs()
    if depth > 20:
        return True
    code = t.code
    if code == gdb.TYPE_CODE_PTR:
        return True
    if code == gdb.TYPE_CODE_ARRAY:
        lo, hi = t.range()
        return hi >= lo and has_pointers(t.target(), depth + 1)
    if code in (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_UNION):
        return any(has_pointers(f.type, depth + 1) for f in t.fields())
    return code in (gdb.TYPE_CODE_FUNC,)


def map_kind(t: Any) -> str | None:
    """'classic' / 'swiss' for a Go map type (a pointer to hash<K,V> or map<K,V>), else None."""
    t = t.strip_typedefs()
    if t.code != gdb.TYPE_CODE_PTR:
        return None
    target = t.target().strip_typedefs()
    name = target.name or ""
    if target.code != gdb.TYPE_CODE_STRUCT:
        return None
    if name.startswith("hash<"):
        return "classic"
    if name.startswith("map<") and "dirPtr" in field_offsets(target):
        return "swiss"
    return None


def slot_types(kind: str, hdr_type: Any) -> dict[str, Any]:
    """Sizes, offsets and indirection of key and elem slots, from the bucket/group DWARF type."""
    hf = field_offsets(hdr_type)
    if kind == "classic":
        bt = hf["buckets"][1].strip_typedefs().target().strip_typedefs()
        bf = field_offsets(bt)
        kt = bf["keys"][1].strip_typedefs().target()
        vt = bf["values"][1].strip_typedefs().target()
        return {
            "container_size": bt.sizeof,
            "keys_off": bf["keys"][0],
            "values_off": bf["values"][0],
            "overflow_off": bf["overflow"][0],
            # "pointers": the bucket's own overflow field is a uintptr to the GC when K and V
            # hold no pointers
            **_key_elem(kt, vt),
            "extra_type": hf["extra"][1].strip_typedefs().target(),
        }
    table_t = hf["dirPtr"][1].strip_typedefs().target().strip_typedefs().target().strip_typedefs()
    tf = field_offsets(table_t)
    gref = tf["groups"][1].strip_typedefs()
    gt = field_offsets(gref)["data"][1].strip_typedefs().target().strip_typedefs()
    gf = field_offsets(gt)
    slot_t = gf["slots"][1].strip_typedefs().target().strip_typedefs()
    sf = field_offsets(slot_t)
    kt, vt = sf["key"][1], sf["elem"][1]
    return {
        "container_size": gt.sizeof,
        "table_type": table_t,
        "ctrl_off": gf["ctrl"][0],
        "slots_off": gf["slots"][0],
        "slot_size": slot_t.sizeof,
        "key_off": sf["key"][0],
        "elem_off": sf["elem"][0],
        **_key_elem(kt, vt),
    }


def _key_elem(kt: Any, vt: Any) -> dict[str, Any]:
    """What both layouts record about the key and elem types."""
    return {
        "key_size": kt.sizeof,
        "elem_size": vt.sizeof,
        "key_type": str(kt),
        "elem_type": str(vt),
        "key_gdb": kt,
        "elem_gdb": vt,
        "pointers": has_pointers(kt) or has_pointers(vt),
    }


def indirect_of(slot_t: Any, map_type_name: str, which: str) -> tuple[bool, str, int]:
    """(indirect?, pointee type name, pointee size) for a key/elem slot type.

    Go stores keys/elems over 128 bytes as pointers; the slot type is then ``*T`` while the map
    type name says ``T``. A map of real pointers has ``*T`` in its name too.
    """
    t = slot_t.strip_typedefs()
    if t.code != gdb.TYPE_CODE_PTR:
        return False, str(slot_t), slot_t.sizeof
    target = t.target()
    if target.sizeof > 128 and not _name_has_pointer(map_type_name, which):
        return True, str(target), target.sizeof
    return False, str(slot_t), slot_t.sizeof


def _name_has_pointer(map_name: str, which: str) -> bool:
    # map[K]V: a real pointer key/elem shows as '*' right after '[' or ']'
    if not map_name.startswith("map["):
        return False
    depth, i = 0, 3
    for i in range(3, len(map_name)):
        c = map_name[i]
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                break
    key, elem = map_name[4:i], map_name[i + 1 :]
    return (key if which == "key" else elem).startswith("*")


class Walker:
    def __init__(self, reader: Reader, params: dict[str, Any]) -> None:
        self.r = reader
        self.params = params
        self.size_classes: list[int] = params["size_classes"]
        self.max_inner = int(params.get("max_inner_maps", 10000))
        self.max_nodes = int(params.get("max_nodes", 200000))
        self.seen: set[Any] = set()
        self.warnings: list[str] = []
        self._types: dict[str, dict[str, Any]] = {}

    # -- helpers --------------------------------------------------------------------------
    def roundup(self, size: int, pointers: bool) -> int:
        """Go's roundupsize: usable bytes of the allocation serving ``size`` bytes.

        Pointerful objects over 512 bytes carry an 8-byte malloc header (Go 1.22+).
        """
        if size <= 32768 - 8:
            hdr = 8 if pointers and size > 512 else 0
            for c in self.size_classes:
                if size + hdr <= c:
                    return c - hdr
        return (size + 8191) & ~8191

    def types_for(self, kind: str, map_t: Any) -> dict[str, Any]:
        key = str(map_t)
        if key not in self._types:
            hdr = map_t.strip_typedefs().target().strip_typedefs()
            info = slot_types(kind, hdr)
            info["hdr"] = hdr
            info["hdr_fields"] = {k: v[0] for k, v in field_offsets(hdr).items()}
            info["hdr_size"] = hdr.sizeof
            name = str(map_t)
            ki, kname, ksize = indirect_of(info["key_gdb"], name, "key")
            vi, vname, vsize = indirect_of(info["elem_gdb"], name, "elem")
            kt_ptr = has_pointers(info["key_gdb"].strip_typedefs().target()) if ki else False
            vt_ptr = has_pointers(info["elem_gdb"].strip_typedefs().target()) if vi else False
            info.update(key_target_pointers=kt_ptr, elem_target_pointers=vt_ptr)
            info.update(key_indirect=ki, elem_indirect=vi, key_target_size=ksize,
                        elem_target_size=vsize, key_target=kname, elem_target=vname)
            info["elem_map_kind"] = map_kind(info["elem_gdb"])
            self._types[key] = info
        return self._types[key]

    # -- classic maps ---------------------------------------------------------------------
    def classic_chain_counts(self, base: int, nb: int, info: dict[str, Any],
                             collect_slots: bool) -> dict[str, Any]:
        """Count slots of ``nb`` buckets at ``base`` and their overflow chains.

        The bucket array is read in chunks of at most CHUNK_BYTES (one read each), so a map of
        tens of millions of entries does not need its whole array in memory at once.
        """
        bs = info["container_size"]
        b = nb.bit_length() - 1
        nalloc = nb
        if b >= 4:
            nalloc = nb + (1 << (b - 4))
            nalloc = self.roundup(nalloc * bs, info["pointers"]) // bs
        ooff = info["overflow_off"]
        step = bs // 8
        per_chunk = max(1, int(self.params.get("chunk_bytes") or CHUNK_BYTES) // bs)
        tophash: list[bytes] = []
        ovf: list[int] = []
        data: list[bytes] = []
        for first in range(0, nb, per_chunk):
            n = min(per_chunk, nb - first)
            chunk = self.r.read(base + first * bs, n * bs)
            tophash.extend(chunk[j::bs] for j in range(8))
            ovf.extend(p for p in memoryview(chunk).cast("Q")[ooff // 8 :: step] if p)
            if collect_slots:
                data.append(chunk)
        # buckets preallocated for overflow follow the 2^B primary ones in the same allocation
        tail_base = base + nb * bs
        tail = self.r.read(tail_base, (nalloc - nb) * bs) if nalloc > nb else b""
        end = base + nalloc * bs
        prealloc_used = 0
        separate = 0
        seen_ovf: set[int] = set()
        while ovf:
            nxt: list[int] = []
            for p in ovf:
                if p in seen_ovf:
                    continue
                seen_ovf.add(p)
                if tail_base <= p < end and (p - tail_base) % bs == 0:
                    off = p - tail_base
                    ob = tail[off : off + bs]
                    prealloc_used += 1
                else:
                    ob = self.r.read(p, bs)
                    separate += 1
                tophash.append(ob[:8])
                if collect_slots:
                    data.append(ob)
                q = u(ob, ooff, 8)
                if q:
                    nxt.append(q)
            ovf = nxt
        th = b"".join(tophash).translate(CLASSIC_CAT)
        out: dict[str, Any] = {
            "buckets": nb,
            "allocated_buckets": nalloc,
            "overflow_preallocated": prealloc_used,
            "overflow_separate": separate,
            "full": th.count(b"F"),
            "empty_one": th.count(b"O"),
            "empty_rest": th.count(b"R"),
            "evacuated": th.count(b"V"),
        }
        if collect_slots:
            out["_data"] = b"".join(data)
        return out

    def classic_live_slots(self, data: bytes, info: dict[str, Any]) -> list[tuple[int, int]]:
        """(bucket offset, slot index) of each full slot; used only for nested/sync maps."""
        bs = info["container_size"]
        res = []
        for off in range(0, len(data), bs):
            for j in range(8):
                if data[off + j] >= MIN_TOPHASH:
                    res.append((off, j))
        return res

    def walk_classic(self, name: str, hdr_addr: int, map_t: Any,
                     want_values: bool = False) -> dict[str, Any]:
        info = self.types_for("classic", map_t)
        hf = info["hdr_fields"]
        h = self.r.read(hdr_addr, info["hdr_size"])
        count = u(h, hf["count"], 8)
        flags = u(h, hf["flags"], 1)
        bb = u(h, hf["B"], 1)
        buckets = u(h, hf["buckets"], 8)
        old = u(h, hf["oldbuckets"], 8)
        nevac = u(h, hf["nevacuate"], 8)
        noverflow = u(h, hf["noverflow"], 2)
        extra = u(h, hf["extra"], 8)
        m = self.base_record(name, "classic", hdr_addr, map_t, info)
        m.update(count_field=count, B=bb, flags=flags, nevacuate=nevac, noverflow=noverflow,
                 has_extra=bool(extra), growing=bool(old))
        collect = want_values or info["elem_map_kind"] is not None
        new = self.classic_chain_counts(buckets, 1 << bb, info, collect) if buckets else None
        oldc = None
        if old:
            nold = (1 << bb) if flags & SAME_SIZE_GROW else (1 << bb) >> 1
            oldc = self.classic_chain_counts(old, max(nold, 1), info, collect)
        m["new"] = {k: v for k, v in (new or {}).items() if k != "_data"} or None
        m["old"] = {k: v for k, v in (oldc or {}).items() if k != "_data"} or None
        live = (new or {}).get("full", 0) + (oldc or {}).get("full", 0)
        m["live_entries"] = live
        if extra:  # mapextra: slices that keep overflow buckets of pointer-free maps alive
            ef = field_offsets(info["extra_type"])
            ex = self.r.read(extra, info["extra_type"].sizeof)
            caps = []
            for fname in ("overflow", "oldoverflow"):
                sp = u(ex, ef[fname][0], 8) if fname in ef else 0
                caps.append(u(self.r.read(sp, 24), 16, 8) if sp else -1)
            m["extra_size"] = info["extra_type"].sizeof
            m["extra_overflow_caps"] = caps
        if collect:
            vals = []
            voff, vsz = info["values_off"], info["elem_size"]
            for part in (new, oldc):
                if not part:
                    continue
                data = part["_data"]
                for off, j in self.classic_live_slots(data, info):
                    vals.append(data[off + voff + j * vsz : off + voff + (j + 1) * vsz])
            m["_values"] = vals
        return m

    # -- Swiss maps -----------------------------------------------------------------------
    def count_groups(self, buf: bytes, gs: int, ctrl_off: int) -> dict[str, int]:
        ctrl = b"".join(buf[ctrl_off + j :: gs] for j in range(8)).translate(SWISS_CAT)
        return {"full": ctrl.count(b"F"), "empty": ctrl.count(b"E"),
                "deleted": ctrl.count(b"D"), "other": ctrl.count(b"?")}

    def swiss_live_slots(self, buf: bytes, info: dict[str, Any]) -> list[int]:
        gs, co, so, ss = (info["container_size"], info["ctrl_off"], info["slots_off"],
                          info["slot_size"])
        res = []
        for g in range(0, len(buf), gs):
            for j in range(8):
                if buf[g + co + j] < 0x80:
                    res.append(g + so + j * ss)
        return res

    def walk_swiss(self, name: str, hdr_addr: int, map_t: Any,
                   want_values: bool = False) -> dict[str, Any]:
        info = self.types_for("swiss", map_t)
        hf = info["hdr_fields"]
        h = self.r.read(hdr_addr, info["hdr_size"])
        used = u(h, hf["used"], 8)
        dir_ptr = u(h, hf["dirPtr"], 8)
        dir_len = u(h, hf["dirLen"], 8)
        m = self.base_record(name, "swiss", hdr_addr, map_t, info)
        m.update(count_field=used, dir_len=dir_len, global_depth=u(h, hf["globalDepth"], 1),
                 tombstone_possible=bool(u(h, hf["tombstonePossible"], 1))
                 if "tombstonePossible" in hf else None)
        gs, co = info["container_size"], info["ctrl_off"]
        collect = want_values or info["elem_map_kind"] is not None
        datas: list[bytes] = []
        tables: list[dict[str, int]] = []
        totals = {"full": 0, "empty": 0, "deleted": 0, "other": 0}
        groups = 0
        if dir_len == 0:
            if dir_ptr:
                buf = self.r.read(dir_ptr, gs)
                c = self.count_groups(buf, gs, co)
                for k in totals:
                    totals[k] += c[k]
                groups = 1
                if collect:
                    datas.append(buf)
            m["small"] = True
        else:
            m["small"] = False
            ptrs = memoryview(self.r.read(dir_ptr, 8 * dir_len)).cast("Q").tolist()
            tt = info["table_type"]
            tf = {k: v[0] for k, v in field_offsets(tt).items()}
            gref = field_offsets(tt)["groups"][1]
            gro = {k: v[0] for k, v in field_offsets(gref).items()}
            uniq: list[int] = []
            seen: set[int] = set()
            for p in ptrs:
                if p and p not in seen:
                    seen.add(p)
                    uniq.append(p)
            for tp in uniq:
                tb = self.r.read(tp, tt.sizeof)
                g_data = u(tb, tf["groups"] + gro["data"], 8)
                mask = u(tb, tf["groups"] + gro["lengthMask"], 8)
                ng = mask + 1
                buf = self.r.read(g_data, ng * gs)
                c = self.count_groups(buf, gs, co)
                tables.append({"used": u(tb, tf["used"], 2), "capacity": u(tb, tf["capacity"], 2),
                               "growth_left": u(tb, tf["growthLeft"], 2),
                               "local_depth": u(tb, tf["localDepth"], 1), "groups": ng,
                               "full": c["full"], "deleted": c["deleted"]})
                for k in totals:
                    totals[k] += c[k]
                groups += ng
                if collect:
                    datas.append(buf)
        m["tables"] = tables
        m["table_size"] = info["table_type"].sizeof
        m["groups"] = groups
        m["slots"] = totals
        m["live_entries"] = totals["full"]
        if collect:
            vals = []
            eo, es = info["elem_off"], info["elem_size"]
            for buf in datas:
                for s in self.swiss_live_slots(buf, info):
                    vals.append(buf[s + eo : s + eo + es])
            m["_values"] = vals
        return m

    def base_record(self, name: str, kind: str, addr: int, map_t: Any,
                    info: dict[str, Any]) -> dict[str, Any]:
        return {
            "variable": name, "layout": kind, "type": str(map_t), "address": addr,
            "header_size": info["hdr_size"], "container_size": info["container_size"],
            "key_size": info["key_size"], "elem_size": info["elem_size"],
            "key_indirect": info["key_indirect"], "elem_indirect": info["elem_indirect"],
            "key_target_size": info["key_target_size"],
            "elem_target_size": info["elem_target_size"],
            "key_target_pointers": info["key_target_pointers"],
            "elem_target_pointers": info["elem_target_pointers"],
            "pointers": info["pointers"],
        }

    def walk_map(self, name: str, hdr_addr: int, map_t: Any, kind: str,
                 want_values: bool = False) -> dict[str, Any]:
        if kind == "classic":
            m = self.walk_classic(name, hdr_addr, map_t, want_values)
        else:
            m = self.walk_swiss(name, hdr_addr, map_t, want_values)
        info = self.types_for(kind, map_t)
        ek = info["elem_map_kind"]
        if ek is not None:
            vals = m.pop("_values", [])
            inner = []
            for v in vals[: self.max_inner]:
                p = u(v, 0, 8)
                if p and p not in self.seen:
                    self.seen.add(p)
                    im = self.walk_map(name + "[*]", p, info["elem_gdb"], ek)
                    im.pop("_values", None)
                    inner.append(im)
            if len(vals) > self.max_inner:
                self.warnings.append(f"{name}: only the first {self.max_inner} inner maps read")
            m["inner_maps"] = inner
        return m

    # -- sync.Map -------------------------------------------------------------------------
    def walk_sync_map(self, name: str, addr: int, t: Any) -> dict[str, Any]:
        f = field_offsets(t)
        if "read" in f:
            return self.walk_sync_classic(name, addr, t, f)
        return self.walk_sync_trie(name, addr, f)

    def walk_sync_classic(self, name: str, addr: int, t: Any,
                          f: dict[str, tuple[int, Any]]) -> dict[str, Any]:
        read_off, read_t = f["read"]
        ro_t = atomic_target(read_t)
        rof = field_offsets(ro_t)
        dirty_off, dirty_t = f["dirty"]
        kind = map_kind(dirty_t) or "classic"
        raw = self.r.read(addr, t.sizeof)
        ro_ptr = u(raw, read_off, 8)
        dirty = u(raw, dirty_off, 8)
        rec: dict[str, Any] = {"variable": name, "layout": "sync.Map", "type": "sync.Map",
                               "address": addr, "form": "read+dirty"}
        read_m = dirty_m = None
        amended = False
        if ro_ptr:
            ro = self.r.read(ro_ptr, ro_t.sizeof)
            amended = bool(u(ro, rof["amended"][0], 1))
            mp = u(ro, rof["m"][0], 8)
            if mp:
                read_m = self.walk_map(name + ".read", mp, rof["m"][1], kind, want_values=True)
        if dirty:
            dirty_m = self.walk_map(name + ".dirty", dirty, dirty_t, kind, want_values=True)
        exp_sym = gdb.lookup_global_symbol("sync.expunged") or gdb.lookup_static_symbol(
            "sync.expunged")
        expunged = self.r.ptr(int(exp_sym.value().address)) if exp_sym else -1
        # the authoritative map: dirty holds every live key when amended, else read does
        auth = dirty_m if (amended and dirty_m is not None) else read_m
        live = deleted = 0
        checked = 0
        values: dict[int, int] = {}  # *entry -> its p (nil, expunged or a value)
        for mm in (read_m, dirty_m):
            if mm is None:
                continue
            vals = mm.pop("_values", [])
            mm["entries_checked"] = 0
            ml = md = 0
            for v in vals:
                if checked >= self.max_nodes:
                    self.warnings.append(f"{name}: entry check stopped at {self.max_nodes}")
                    break
                ep = u(v, 0, 8)
                if ep not in values:  # read and dirty share entries: read each once
                    values[ep] = self.r.ptr(ep) if ep else 0
                p = values[ep]
                checked += 1
                mm["entries_checked"] += 1
                if p == 0 or p == expunged:
                    md += 1
                else:
                    ml += 1
            mm["entries_live"], mm["entries_deleted"] = ml, md
            if mm is auth:
                live, deleted = ml, md
        rec.update(amended=amended, read=read_m, dirty=dirty_m, live_entries=live,
                   deleted_entries=deleted, entry_size=8, entries_unique=len(values))
        return rec

    def walk_sync_trie(self, name: str, addr: int,
                       f: dict[str, tuple[int, Any]]) -> dict[str, Any]:
        m_off, m_t = f["m"]
        hf = field_offsets(m_t)
        root_off, root_t = hf["root"]
        ind_t = atomic_target(root_t)
        indf = field_offsets(ind_t)
        ch_off, ch_t = indf["children"]
        nchild = ch_t.strip_typedefs().range()[1] + 1
        node_name = str(atomic_target(ch_t.strip_typedefs().target()))
        entry_t = gdb.lookup_type(node_name.replace(".node[", ".entry[", 1)).strip_typedefs()
        ef = field_offsets(entry_t)
        root = self.r.ptr(addr + m_off + root_off)
        ovf_off = ef["overflow"][0]
        # one read per node: enough bytes for an indirect node; its first byte (isEntry) says
        # which it is, and an entry's overflow pointer is in the same bytes
        span = max(ind_t.sizeof, ovf_off + 8)
        nodes = entries = 0
        stack = [self.read_node(root, span, ovf_off + 8)] if root else []
        while stack:
            if nodes + entries > self.max_nodes:
                self.warnings.append(f"{name}: trie walk stopped at {self.max_nodes} nodes")
                break
            ib = stack.pop()
            nodes += 1
            kids = memoryview(ib[ch_off : ch_off + 8 * nchild]).cast("Q").tolist()
            for c in kids:
                if not c:
                    continue
                nb = self.read_node(c, span, ovf_off + 8)
                if nb[0]:  # isEntry: count it and its overflow chain
                    entries += 1
                    e = u(nb, ovf_off, 8)
                    while e:
                        entries += 1
                        e = self.r.ptr(e + ovf_off)
                else:
                    stack.append(nb)
        return {"variable": name, "layout": "sync.Map", "type": "sync.Map", "address": addr,
                "form": "hash-trie", "live_entries": entries, "deleted_entries": 0,
                "trie_nodes": nodes, "node_size": ind_t.sizeof, "entry_size": entry_t.sizeof}

    def read_node(self, addr: int, size: int, minimum: int) -> bytes:
        """``size`` bytes at ``addr``, or ``minimum`` if the larger read leaves mapped memory."""
        try:
            return self.r.read(addr, size)
        except Failure:
            return self.r.read(addr, minimum)

    # -- roots ----------------------------------------------------------------------------
    def walk_value(self, name: str, addr: int, t: Any, depth: int, out: list[dict[str, Any]]
                   ) -> None:
        """Find maps in the value of type ``t`` at ``addr``: directly, in fields, via pointers."""
        st = t.strip_typedefs()
        kind = map_kind(st)
        if kind is not None:
            hdr = self.r.ptr(addr)
            if hdr and hdr not in self.seen:
                self.seen.add(hdr)
                out.append(self.walk_map(name, hdr, t, kind))
            elif not hdr:
                out.append({"variable": name, "layout": kind, "type": str(t), "nil": True})
            return
        if depth <= 0:
            return
        if st.code == gdb.TYPE_CODE_STRUCT:
            if (st.name or "") == "sync.Map":
                if addr not in self.seen:
                    self.seen.add(addr)
                    out.append(self.walk_sync_map(name, addr, st))
                return
            if not self.could_hold_map(st):
                return
            for fld in st.fields():
                if not fld.name or fld.bitpos is None:
                    continue
                fname = fld.name.rsplit(".", 1)[-1] if "." in fld.name else fld.name
                self.walk_value(f"{name}.{fname}", addr + fld.bitpos // 8, fld.type, depth - 1,
                                out)
        elif st.code == gdb.TYPE_CODE_PTR:
            target = st.target().strip_typedefs()
            if target.code == gdb.TYPE_CODE_STRUCT and self.could_hold_map(target):
                p = self.r.ptr(addr)
                if p and ("p", p) not in self.seen:
                    self.seen.add(("p", p))
                    self.walk_value(name, p, target, depth - 1, out)

    def could_hold_map(self, st: Any, depth: int = 4) -> bool:
        """Cheap pre-attach type check so we read memory only where a map can be."""
        st = st.strip_typedefs()
        if map_kind(st) is not None or (st.name or "") == "sync.Map":
            return True
        if depth <= 0:
            return False
        if st.code == gdb.TYPE_CODE_STRUCT:
            return any(self.could_hold_map(f.type, depth - 1) for f in st.fields())
        if st.code == gdb.TYPE_CODE_PTR:
            tg = st.target().strip_typedefs()
            return tg.code == gdb.TYPE_CODE_STRUCT and self.could_hold_map(tg, depth - 1)
        return False


VAR_LINE = re.compile(r"^\s*(?:\d+:\s*)?(.+?)\s+\**([^\s*]+);$")


def is_std(pkg: str, modules: list[str]) -> bool:
    """Standard library: no dot in the first path element, and not one of the build's modules
    (a module path like ``myservice`` has no dot either)."""
    if pkg == "main" or any(pkg == m or pkg.startswith(m + "/") for m in modules):
        return False
    return "." not in pkg.split("/", 1)[0]


def find_roots(params: dict[str, Any], walker: Walker) -> list[tuple[str, Any]]:
    """Package-level variables (name, gdb.Symbol) that may hold maps; found before attaching."""
    wanted = params.get("var")
    names: list[str] = []
    if wanted:
        names = [wanted if "." in wanted else "main." + wanted]
    else:
        out = gdb.execute("info variables -n", to_string=True)
        for line in out.splitlines():
            mo = VAR_LINE.match(line)
            if not mo:
                continue
            nm = mo.group(2)
            if "." not in nm or ".." in nm or nm.startswith(("go:", "type:", "runtime.")):
                continue
            pkg = nm[: nm.rfind(".")]
            if "/" in nm[nm.rfind("/") + 1 :]:
                continue
            if not params.get("include_std") and is_std(pkg, params.get("modules") or []):
                continue
            names.append(nm)
    roots = []
    for nm in sorted(set(names)):
        sym = gdb.lookup_global_symbol(nm) or gdb.lookup_static_symbol(nm)
        if sym is None:
            if wanted:
                raise Failure("no-variable", f"no package-level variable {nm!r} in the "
                              "executable's DWARF")
            continue
        t = sym.type
        if map_kind(t) is None and not walker.could_hold_map(t):
            if wanted:
                raise Failure("not-a-map", f"{nm} has type {t}, which holds no map")
            continue
        roots.append((nm, sym))
    return roots


def main() -> None:
    params = json.loads(os.environ["LEAKSLEUTH_GDB_PARAMS"])
    doc: dict[str, Any] = {"ok": False}
    attached = False
    t_attach = t_detach = None
    try:
        gdb.execute("set pagination off")
        gdb.execute("set confirm off")
        gdb.execute("set print thread-events off")
        try:
            gdb.execute(f"file {params['exe']}", to_string=True)
        except gdb.error as exc:
            raise Failure("exe", f"gdb cannot load {params['exe']}: {exc}") from None
        walker = Walker(Reader(), params)
        t0 = time.monotonic()
        roots = find_roots(params, walker)
        doc["prepare_seconds"] = time.monotonic() - t0
        if params.get("core"):
            try:
                gdb.execute(f"core-file {params['core']}", to_string=True)
            except gdb.error as exc:
                raise Failure("core", f"gdb cannot open core {params['core']}: {exc}") from None
        else:
            t_attach = time.monotonic()
            try:
                gdb.execute(f"attach {int(params['pid'])}", to_string=True)
            except gdb.error as exc:
                msg = str(exc)
                if "zombie" in msg:
                    kind = "gone"
                elif "ptrace" in msg or "not permitted" in msg:
                    kind = "ptrace"
                else:
                    kind = "attach"
                raise Failure(kind, msg) from None
            attached = True
            doc["attach_seconds"] = time.monotonic() - t_attach
        walker.r = Reader()
        t_read = time.monotonic()
        maps: list[dict[str, Any]] = []
        for nm, sym in roots:
            try:
                addr = int(sym.value().address)
                walker.walk_value(nm, addr, sym.type, int(params.get("depth", 6)), maps)
            except Failure as exc:
                walker.warnings.append(f"{nm}: {exc}")
        doc["read_seconds"] = time.monotonic() - t_read
        doc["reads"] = walker.r.reads
        doc["bytes_read"] = walker.r.bytes
        if attached:
            gdb.execute("detach", to_string=True)
            attached = False
            t_detach = time.monotonic()
            doc["stopped_seconds"] = t_detach - (t_attach or t_detach)
        doc.update(ok=True, maps=maps, warnings=walker.warnings, roots=[n for n, _ in roots])
    except Failure as exc:
        doc.update(ok=False, kind=exc.kind, error=str(exc))
    except Exception as exc:  # report, never leave gdb hanging on the target
        doc.update(ok=False, kind="script", error=f"{type(exc).__name__}: {exc}",
                   trace=traceback.format_exc()[-2000:])
    finally:
        if attached:
            with contextlib.suppress(gdb.error):
                gdb.execute("detach", to_string=True)
            if t_attach is not None:
                doc["stopped_seconds"] = time.monotonic() - t_attach
    emit(doc)


main()
