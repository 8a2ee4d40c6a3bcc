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
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from leaksleuth.errors import InspectError

MAGICS = {0xFFFFFFF0: "go1.18", 0xFFFFFFF1: "go1.20"}


class PcTable:
    """Function lookup for return addresses, as in a heap profile's ``@`` lines."""

    def __init__(self, exe: str | Path) -> None:
        self.exe = Path(exe)
        try:
            with self.exe.open("rb") as fh:
                elf = ELFFile(fh)
                sec = elf.get_section_by_name(".gopclntab")
                if sec is None:
                    raise InspectError(f"{self.exe} has no .gopclntab (not a Go executable?)")
                data = sec.data()
                text = elf.get_section_by_name(".text")
                text_addr = int(text["sh_addr"]) if text is not None else 0
                self._text = text.data() if text is not None else b""
                self._text_addr = text_addr
        except FileNotFoundError:
            raise InspectError(f"{self.exe}: no such executable") from None
        except ELFError:
            raise InspectError(f"{self.exe} is not an ELF executable") from None
        except OSError as exc:
            raise InspectError(f"{self.exe}: cannot read ({exc.strerror})") from None
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
