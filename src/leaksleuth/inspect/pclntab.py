"""PC -> function name from a Go executable's ``.gopclntab``, without gdb and without DWARF.

The Go runtime needs this table to print stack traces, so it survives ``-ldflags=-s -w`` (which
drops ``.symtab`` and DWARF). Written by hand because no maintained Python library reads it
(pyelftools knows ELF and DWARF, not Go's pclntab); the layout is Go 1.18+'s ``pcHeader`` and
``functab`` (runtime/symtab.go). Measured on the 7 MB test program (benchmarks/
inspect_pause_bench.py): loading and resolving 1000 PCs takes a few milliseconds; gdb
``info symbol`` in batch needs about a second, mostly gdb start-up.

Only the outermost function of a PC is returned (inlined frames are not expanded): enough to
classify allocations, whose marker functions (growslice, makechan, hashGrow, newTable...) are
never inlined into user code.

The table also gives every function's address range (``functions``), so ``calls`` can read
which functions a function calls directly from its machine code in ``.text``.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from leaksleuth.errors import InspectError
from leaksleuth.inspect.elf import open_elf
from leaksleuth.profile.frames import normalize_function

MAGICS = {0xFFFFFFF0: "go1.18", 0xFFFFFFF1: "go1.20"}


class PcTable:
    """Function lookup for return addresses, as in a heap profile's ``@`` lines."""

    def __init__(self, exe: str | Path) -> None:
        self.exe = Path(exe)
        with open_elf(self.exe) as elf:
            self._machine = str(elf["e_machine"])
            sec = elf.get_section_by_name(".gopclntab")
            if sec is None:
                raise InspectError(f"{self.exe} has no .gopclntab (not a Go executable?)")
            data = sec.data()
            text = elf.get_section_by_name(".text")
            text_addr = int(text["sh_addr"]) if text is not None else 0
            self._text = text.data() if text is not None else b""
            self._text_addr = text_addr
        if len(data) < 72:
            raise InspectError(f"{self.exe}: truncated .gopclntab")
        magic, _p1, _p2, _minlc, ptrsize = struct.unpack_from("<IBBBB", data, 0)
        if magic not in MAGICS or ptrsize != 8:
            raise InspectError(f"{self.exe}: unsupported .gopclntab (magic {magic:#x}, Go older "
                               "than 1.18 or not 64-bit)")
        (nfunc, _nfiles, text_start, funcname_off, _cu_off, _filetab_off, _pctab_off,
         pcln_off) = struct.unpack_from("<QQQQQQQQ", data, 8)
        if text_start == 0:  # Go 1.26 no longer stores it: runtime.text starts .text
            text_start = text_addr
        self._data = data
        self._funcnames = funcname_off
        self._pcln = pcln_off
        tab = np.frombuffer(data, dtype="<u4", count=2 * (nfunc + 1), offset=pcln_off)
        self._entries = tab[0::2].astype(np.int64) + int(text_start)  # nfunc + 1 (end sentinel)
        self._funcoffs = tab[1::2]
        self._names: dict[int, str] = {}
        self._by_name: dict[str, list[int]] | None = None  # built on the first ``calls``
        self._entry_index: dict[int, int] | None = None

    def __bool__(self) -> bool:
        return len(self._entries) > 1

    def __len__(self) -> int:
        return len(self._entries) - 1

    def _name(self, i: int) -> str:
        name = self._names.get(i)
        if name is None:
            fo = self._pcln + int(self._funcoffs[i])
            name_off = struct.unpack_from("<i", self._data, fo + 4)[0]
            start = self._funcnames + name_off
            end = self._data.index(b"\0", start)
            name = self._data[start:end].decode("utf-8", "replace")
            self._names[i] = name
        return name

    def functions(self) -> Iterator[tuple[int, int, str]]:
        """Every function as ``(entry, end, name)``, in address order.

        ``end`` is the next function's entry (the last one ends where the table's text ends),
        the range the runtime itself uses to find a PC's function.
        """
        for i in range(len(self)):
            yield int(self._entries[i]), int(self._entries[i + 1]), self._name(i)

    def function_at(self, pc: int) -> str | None:
        """The function whose code contains ``pc``."""
        i = int(np.searchsorted(self._entries, pc, side="right")) - 1
        if i < 0 or i >= len(self._entries) - 1:
            return None
        return self._name(i)

    def lookup(self, return_pc: int) -> str | None:
        """The function containing the call before return address ``return_pc``."""
        return self.function_at(return_pc - 1)

    def call_target(self, return_pc: int) -> int | None:
        """Address called by the ``CALL rel32`` (x86-64, opcode E8) ending at ``return_pc``.

        The profiler's fixed skip count can drop the runtime function that called mallocgc
        (Go 1.23: growslice, makechan); the call instruction before the leaf's return address
        still names it.
        """
        off = return_pc - 5 - self._text_addr
        if off < 0 or off + 5 > len(self._text) or self._text[off] != 0xE8:
            return None
        rel: int = struct.unpack_from("<i", self._text, off + 1)[0]
        return return_pc + rel

    def callee(self, return_pc: int) -> str | None:
        """The function called by the call before ``return_pc`` (None if not a direct call)."""
        target = self.call_target(return_pc)
        return self.function_at(target) if target is not None else None

    def calls(self, function: str) -> frozenset[str]:
        """Functions ``function`` calls directly (empty when unknown or not x86-64/arm64).

        Read from its machine code in ``[entry, end)``: x86-64 ``CALL rel32`` and arm64
        ``BL``. Only targets that are exactly a function's entry count, so the odd ``0xE8``
        byte inside another instruction does not. Names are compared normalised: pprof spells
        generic instantiations ``F[...]``, the table ``F[go.shape.int]``, so every
        instantiation of a generic function counts.
        """
        if self._by_name is None:
            by_name: dict[str, list[int]] = defaultdict(list)
            for i in range(len(self)):
                by_name[normalize_function(self._name(i))].append(i)
            self._by_name = dict(by_name)
        out: set[str] = set()
        for i in self._by_name.get(normalize_function(function), ()):
            out |= self._calls_in(int(self._entries[i]), int(self._entries[i + 1]))
        return frozenset(out)

    def _entry_name(self, addr: int) -> str | None:
        """The name of the function whose entry is exactly ``addr``."""
        if self._entry_index is None:
            self._entry_index = {a: i for i, a in enumerate(self._entries[:-1].tolist())}
        i = self._entry_index.get(addr)
        return self._name(i) if i is not None else None

    def _calls_in(self, entry: int, end: int) -> set[str]:
        lo = entry - self._text_addr
        if not self._text or lo < 0:
            return set()
        code = self._text[lo : lo + (end - entry)]
        out: set[str] = set()
        if self._machine == "EM_X86_64":
            for i in range(len(code) - 4):
                if code[i] == 0xE8:
                    rel = int.from_bytes(code[i + 1 : i + 5], "little", signed=True)
                    name = self._entry_name(entry + i + 5 + rel)
                    if name:
                        out.add(name)
        elif self._machine == "EM_AARCH64":
            for i in range(0, len(code) - 3, 4):
                word = int.from_bytes(code[i : i + 4], "little")
                if word >> 26 == 0b100101:
                    imm = word & 0x3FFFFFF
                    if imm & 0x2000000:
                        imm -= 1 << 26
                    name = self._entry_name(entry + i + 4 * imm)
                    if name:
                        out.add(name)
        return out
