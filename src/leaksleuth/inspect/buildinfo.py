"""Go version, modules and build settings of an executable, from its ``.go.buildinfo`` section.

The map layout to read is chosen from this (and confirmed from DWARF type names inside gdb):
classic ``hmap`` for Go <= 1.23 and for 1.24/1.25 built with ``GOEXPERIMENT=noswissmap``,
Swiss tables otherwise. ELF parsing is pyelftools'; the small build-info blob format (Go 1.18+:
a 32-byte header, then two varint-prefixed strings) is read here as in ``debug/buildinfo``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from elftools.elf.sections import NoteSection

from leaksleuth.errors import InspectError
from leaksleuth.inspect.elf import open_elf

MAGIC = b"\xff Go buildinf:"
# Oldest and newest Go whose map and allocator layouts we have checked (see DESIGN.md).
SUPPORTED_MIN = (1, 22)
SUPPORTED_MAX = (1, 26)

Layout = Literal["classic", "swiss"]


@dataclass(frozen=True)
class BuildInfo:
    """What the executable says about how it was built."""

    path: Path
    go_version: str  # "go1.23.9"
    main_path: str = ""  # module path of package main ("command-line-arguments" for files)
    modules: tuple[tuple[str, str], ...] = ()  # (path, version) of main and dependencies
    settings: dict[str, str] = field(default_factory=dict)  # build settings: GOEXPERIMENT...
    has_dwarf: bool = False
    has_symbols: bool = False

    @property
    def version_tuple(self) -> tuple[int, int, int]:
        return parse_go_version(self.go_version)

    @property
    def experiments(self) -> tuple[str, ...]:
        return tuple(x for x in self.settings.get("GOEXPERIMENT", "").split(",") if x)

    @property
    def map_layout(self) -> Layout:
        """Which map implementation the runtime in this executable uses."""
        major_minor = self.version_tuple[:2]
        if major_minor <= (1, 23):
            return "classic"
        if major_minor <= (1, 25) and "noswissmap" in self.experiments:
            return "classic"
        return "swiss"

    @property
    def supported(self) -> bool:
        return SUPPORTED_MIN <= self.version_tuple[:2] <= SUPPORTED_MAX

    def check_supported(self) -> None:
        if not self.supported:
            lo = "go{}.{}".format(*SUPPORTED_MIN)
            hi = "go{}.{}".format(*SUPPORTED_MAX)
            raise InspectError(
                f"{self.path} was built with {self.go_version}; map inspection supports "
                f"{lo} to {hi} (runtime layouts differ outside that range)"
            )


def parse_go_version(v: str) -> tuple[int, int, int]:
    """(1, 23, 9) from "go1.23.9", "go1.24rc1", "go1.26.6 X:nocoverageredesign"."""
    m = re.match(r"go(\d+)\.(\d+)(?:\.(\d+))?", v.strip())
    if not m:
        return (0, 0, 0)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))


def _uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    x = shift = 0
    while pos < len(buf):
        b = buf[pos]
        pos += 1
        x |= (b & 0x7F) << shift
        if b < 0x80:
            return x, pos
        shift += 7
    raise ValueError("truncated varint")


def _parse_modinfo(text: str) -> tuple[str, tuple[tuple[str, str], ...], dict[str, str]]:
    main_path = ""
    mods: list[tuple[str, str]] = []
    settings: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if parts[0] == "path" and len(parts) > 1:
            main_path = parts[1]
        elif parts[0] in ("mod", "dep") and len(parts) > 2:
            mods.append((parts[1], parts[2]))
        elif parts[0] == "build" and len(parts) > 1 and "=" in parts[1]:
            k, _, v = parts[1].partition("=")
            settings[k] = v
    return main_path, tuple(mods), settings


def read_buildinfo(path: str | Path) -> BuildInfo:
    """Read the build info of the Go executable at ``path``.

    Raises ``InspectError`` for a missing file, a non-ELF file, or an ELF that is not a Go
    program (no ``.go.buildinfo``), or a Go older than 1.18 (pointer-format build info).
    """
    p = Path(path)
    with open_elf(p) as elf:
        if elf.header["e_type"] == "ET_CORE":
            raise InspectError(f"{p} is a core file, not an executable")
        sec = elf.get_section_by_name(".go.buildinfo")
        names = {s.name for s in elf.iter_sections()}
        has_dwarf = bool({".debug_info", ".zdebug_info"} & names)
        has_symbols = ".symtab" in names
        if sec is None:
            raise InspectError(f"{p} is not a Go program (no Go build info in the executable)")
        data = sec.data()
    if not data.startswith(MAGIC) or len(data) < 32:
        raise InspectError(f"{p}: unreadable Go build info")
    flags = data[15]
    if not flags & 2:
        raise InspectError(f"{p} was built with a Go older than go1.18 (pointer-format build "
                           "info); map inspection supports go1.22 and later")
    try:
        n, pos = _uvarint(data, 32)
        version = data[pos : pos + n].decode("utf-8", "replace")
        n2, pos2 = _uvarint(data, pos + n)
        raw_mod = data[pos2 : pos2 + n2]
    except ValueError:
        raise InspectError(f"{p}: truncated Go build info") from None
    if len(raw_mod) >= 33:  # strip the 16-byte sentinels cmd/go puts around modinfo
        raw_mod = raw_mod[16:-16]
    main_path, mods, settings = _parse_modinfo(raw_mod.decode("utf-8", "replace"))
    return BuildInfo(path=p, go_version=version, main_path=main_path, modules=mods,
                     settings=settings, has_dwarf=has_dwarf, has_symbols=has_symbols)


def gnu_build_id(path: str | Path) -> str | None:
    """The GNU build ID note of an ELF file as hex (what pprof records in mappings), or None."""
    try:
        with open_elf(Path(path)) as elf:
            for section in elf.iter_sections():
                if not isinstance(section, NoteSection):
                    continue
                for note in section.iter_notes():
                    if note["n_type"] == "NT_GNU_BUILD_ID":
                        return str(note["n_desc"])
    except InspectError:
        return None
    return None
