"""The one immutable profile model every part of leaksleuth reads.

A pprof profile is stored columnar: sample values are one int64 matrix, stacks are one flat
int64 array of location ids cut by an offsets array (CSR), labels are parallel int64 columns.
Millions of samples then cost a few arrays, not millions of Python objects.

Ids are dense: parsers renumber locations, functions and mappings so that the object with id
``k`` sits at index ``k - 1`` of its tuple (0 means "none"). Every array is read-only.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

Int64Array = NDArray[np.int64]


def frozen_array(values: Any, dtype: type = np.int64) -> Int64Array:
    """Return ``values`` as a contiguous read-only array (copying only when needed)."""
    arr: Int64Array = np.ascontiguousarray(values, dtype=dtype)
    if arr.flags.writeable:
        if arr.base is not None or arr is values:
            arr = arr.copy()
        arr.flags.writeable = False
    return arr


@dataclass(frozen=True, slots=True)
class ValueType:
    """A sample type or period type, e.g. ``inuse_space``/``bytes``."""

    type: str
    unit: str


@dataclass(frozen=True, slots=True)
class Function:
    id: int
    name: str
    system_name: str = ""
    filename: str = ""
    start_line: int = 0


@dataclass(frozen=True, slots=True)
class Line:
    """One (possibly inlined) frame of a location."""

    function_id: int
    line: int = 0
    column: int = 0


@dataclass(frozen=True, slots=True)
class Location:
    """A program counter. ``lines[0]`` is the innermost inlined frame, as in profile.proto."""

    id: int
    mapping_id: int = 0
    address: int = 0
    lines: tuple[Line, ...] = ()
    is_folded: bool = False


@dataclass(frozen=True, slots=True)
class Mapping:
    id: int
    start: int = 0
    limit: int = 0
    offset: int = 0
    filename: str = ""
    build_id: str = ""
    has_functions: bool = False
    has_filenames: bool = False
    has_line_numbers: bool = False
    has_inline_frames: bool = False


@dataclass(frozen=True, eq=False)
class Labels:
    """Sparse label columns: row ``i`` gives sample ``sample[i]`` the label ``key[i]``.

    ``key``, string ``value`` and ``unit`` are indices into ``Profile.strings``; for numeric
    labels ``value`` is the number itself (e.g. the heap profile's ``bytes`` label).
    """

    sample: Int64Array = field(default_factory=lambda: frozen_array([]))
    key: Int64Array = field(default_factory=lambda: frozen_array([]))
    value: Int64Array = field(default_factory=lambda: frozen_array([]))
    unit: Int64Array = field(default_factory=lambda: frozen_array([]))

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, frozen_array(getattr(self, f.name)))
        n = len(self.sample)
        if not (len(self.key) == len(self.value) == len(self.unit) == n):
            raise ValueError("label columns differ in length")

    def __len__(self) -> int:
        return len(self.sample)


@dataclass(frozen=True, eq=False)
class Profile:
    """An immutable pprof profile. Build new ones with the functions in ``profile.ops``."""

    sample_types: tuple[ValueType, ...]
    values: Int64Array  # shape (n_samples, len(sample_types))
    stack_offsets: Int64Array  # shape (n_samples + 1,): stack i is stack_locations[o[i]:o[i+1]]
    stack_locations: Int64Array  # location ids, leaf first
    locations: tuple[Location, ...] = ()
    functions: tuple[Function, ...] = ()
    mappings: tuple[Mapping, ...] = ()
    strings: tuple[str, ...] = ("",)  # label keys/values/units; strings[0] == ""
    str_labels: Labels = field(default_factory=Labels)
    num_labels: Labels = field(default_factory=Labels)
    period_type: ValueType | None = None
    period: int = 0
    time_nanos: int = 0
    duration_nanos: int = 0
    drop_frames: str = ""
    keep_frames: str = ""
    comments: tuple[str, ...] = ()
    default_sample_type: str = ""
    doc_url: str = ""

    def __post_init__(self) -> None:
        values = frozen_array(self.values)
        if values.ndim == 1 and len(self.sample_types) <= 1:
            values = frozen_array(values.reshape(-1, len(self.sample_types) or 1))
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "stack_offsets", frozen_array(self.stack_offsets))
        object.__setattr__(self, "stack_locations", frozen_array(self.stack_locations))
        n = values.shape[0]
        if values.ndim != 2 or (n and values.shape[1] != len(self.sample_types)):
            raise ValueError("values must have one column per sample type")
        if len(self.stack_offsets) != n + 1:
            raise ValueError("stack_offsets must have n_samples + 1 entries")

    @property
    def n_samples(self) -> int:
        return int(self.values.shape[0])

    def sample_type_index(self, name: str | None = None) -> int:
        """Index of sample type ``name``; the default sample type (or the last) when None.

        pprof's rule: with no default, the last sample type is shown.
        """
        if name is None:
            name = self.default_sample_type or None
        if name is None:
            return len(self.sample_types) - 1
        for i, st in enumerate(self.sample_types):
            if st.type == name:
                return i
        known = ", ".join(st.type for st in self.sample_types)
        raise KeyError(f"no sample type {name!r} (have: {known})")

    def find_sample_type(self, name: str) -> int | None:
        """Index of sample type ``name``; None when the profile has no such sample type."""
        try:
            return self.sample_type_index(name)
        except KeyError:
            return None

    def stack(self, i: int) -> Int64Array:
        """Location ids of sample ``i``, leaf first."""
        return self.stack_locations[self.stack_offsets[i] : self.stack_offsets[i + 1]]

    def location(self, loc_id: int) -> Location:
        return self.locations[loc_id - 1]

    def function(self, fn_id: int) -> Function:
        return self.functions[fn_id - 1]


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame of a goroutine stack in a text dump."""

    function: str
    file: str = ""
    line: int = 0
    pc_offset: int = 0  # the +0x.. after file:line, when present


@dataclass(frozen=True, slots=True)
class Goroutine:
    """One goroutine of a ``goroutine?debug=2`` dump."""

    id: int
    state: str  # e.g. "chan receive", "select", "IO wait", "running"
    wait_minutes: int = 0
    locked_to_thread: bool = False
    frames: tuple[Frame, ...] = ()  # innermost first
    created_by: Frame | None = None
    creator_id: int | None = None  # "created by F in goroutine K"


@dataclass(frozen=True, slots=True)
class GoroutineDump:
    """Every goroutine of one ``debug=2`` dump."""

    goroutines: tuple[Goroutine, ...]
    truncated: bool = False  # the dump was cut off (the last goroutine may be incomplete)


@dataclass(frozen=True, slots=True)
class MemStats:
    """runtime.MemStats as reported by the heap ``debug=1`` trailer or ``/debug/vars``.

    The fields leaksleuth reasons about are typed; every field seen is kept in ``fields``.
    """

    heap_alloc: int = 0
    heap_sys: int = 0
    heap_idle: int = 0
    heap_inuse: int = 0
    heap_released: int = 0
    heap_objects: int = 0
    total_alloc: int = 0
    sys: int = 0
    mallocs: int = 0
    frees: int = 0
    stack_inuse: int = 0
    stack_sys: int = 0
    next_gc: int = 0
    last_gc: int = 0
    num_gc: int = 0
    num_forced_gc: int = 0
    pause_total_ns: int = 0
    gc_cpu_fraction: float = 0.0
    fields: MappingABC[str, Any] = field(default_factory=dict)

    _TYPED: ClassVar[dict[str, str]] = {
        "HeapAlloc": "heap_alloc",
        "HeapSys": "heap_sys",
        "HeapIdle": "heap_idle",
        "HeapInuse": "heap_inuse",
        "HeapReleased": "heap_released",
        "HeapObjects": "heap_objects",
        "TotalAlloc": "total_alloc",
        "Sys": "sys",
        "Mallocs": "mallocs",
        "Frees": "frees",
        "StackInuse": "stack_inuse",
        "StackSys": "stack_sys",
        "NextGC": "next_gc",
        "LastGC": "last_gc",
        "NumGC": "num_gc",
        "NumForcedGC": "num_forced_gc",
        "PauseTotalNs": "pause_total_ns",
        "GCCPUFraction": "gc_cpu_fraction",
    }

    @classmethod
    def from_mapping(cls, raw: MappingABC[str, Any]) -> MemStats:
        """Build from Go field names (``HeapAlloc`` ...), as in expvar JSON or the text block."""
        kwargs: dict[str, Any] = {}
        for go_name, attr in cls._TYPED.items():
            if go_name in raw and raw[go_name] is not None:
                v = raw[go_name]
                kwargs[attr] = float(v) if attr == "gc_cpu_fraction" else int(v)
        return cls(**kwargs, fields=dict(raw))
