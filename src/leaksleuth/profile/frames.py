"""Which frames are the service's own code, and one spelling of Go function names.

Text dumps and protobuf profiles spell the same function differently: ``debug=2`` prints
``main.worker(0xc000012345, ...)`` with arguments, pprof prints ``main.worker``; gdb/DWARF
prints generic instantiations as ``main.F[go.shape.int]`` while the runtime prints
``main.F[...]``. ``normalize_function`` maps all of them to the runtime's spelling so stacks
from every source can be compared and grouped.

"Own code" follows Go's own rule for standard-library import paths (cmd/go): the first
element of the import path has no dot and is not ``main``. A service whose module path has
no dot (``module myservice``) can pass ``module=`` to claim its packages back. An unsymbolised
frame is named after its PC (``0x4a3b2c``); that name has no dot either, so it never counts as
the service's own code.

A stack without own code still needs a name, and what says most depends on what the stack is:
``site_function`` (an allocation: the innermost frame that is not the runtime),
``goroutine_function`` (a goroutine: its start function) and ``group_frame`` (the goroutine
table's column: the innermost frame below the runtime's leaf frames).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from leaksleuth.profile.model import Function, Location, Profile

__all__ = [
    "UNKNOWN_FUNCTION",
    "function_name",
    "function_of_frame_line",
    "goroutine_function",
    "group_frame",
    "import_path",
    "is_runtime",
    "is_stdlib",
    "location_functions",
    "normalize_function",
    "own_frame",
    "own_frames",
    "pprof_unknown_node",
    "sample_functions",
    "site_function",
    "unsymbolized_name",
]

UNKNOWN_FUNCTION = "(unknown function)"  # a line whose function id names nothing


def unsymbolized_name(address: int) -> str:
    """The name of a frame with no symbol information: its PC, ``0x4a3b2c``."""
    return f"0x{address:x}"


def function_name(fn: Function) -> str:
    """A function's name; its system name, or its id, when the profile left the name empty."""
    return fn.name or fn.system_name or f"(function {fn.id})"


def location_functions(profile: Profile, loc: Location) -> tuple[str, ...]:
    """Function names of a location, innermost inlined frame first; its PC when unsymbolised."""
    got = tuple(profile.function(ln.function_id).name for ln in loc.lines if ln.function_id)
    return got or (unsymbolized_name(loc.address),)


def sample_functions(profile: Profile, sample: int, *, drop_runtime_leaf: bool = True
                         ) -> tuple[str, ...]:
    """Function names of one sample's stack, leaf first, inlined frames expanded.

    Unsymbolised locations are skipped; with ``drop_runtime_leaf`` the leading runtime
    frames (and ``runtime.goexit``) are dropped, as pprof and the ``#`` lines do, so stacks
    from text and protobuf compare equal.
    """
    names: list[str] = []
    for lid in profile.stack(sample):
        for ln in profile.location(int(lid)).lines:
            names.append(profile.function(ln.function_id).name)
    if drop_runtime_leaf:
        names = [n for n in names if n != "runtime.goexit"]
        k = 0
        while k < len(names) and is_runtime(names[k]):
            k += 1
        if k < len(names):
            names = names[k:]
    return tuple(names)


def pprof_unknown_node(mapping_file: str) -> str:
    """pprof's node for a location without symbols: ``<unknown libc.so.6>`` (``top`` parity)."""
    base = mapping_file.rsplit("/", 1)[-1]
    return f"<unknown {base}>" if mapping_file else "<unknown>"


def _strip_args(line: str) -> str:
    """Drop a trailing balanced ``(...)`` argument list, as printed by ``debug=2``."""
    s = line.rstrip()
    if not s.endswith(")"):
        return s
    depth = 0
    for i in range(len(s) - 1, -1, -1):
        c = s[i]
        if c == ")":
            depth += 1
        elif c == "(":
            depth -= 1
            if depth == 0:
                head = s[:i]
                # "main.(*T).f" has a "(" too, but it is preceded by "." and is not the args
                if not head or head.endswith("."):
                    return s
                return head
    return s


def _collapse_brackets(name: str) -> str:
    """``F[go.shape.int,string]`` -> ``F[...]``: the runtime's spelling of instantiations."""
    if "[" not in name:
        return name
    out: list[str] = []
    depth = 0
    for c in name:
        if c == "[":
            if depth == 0:
                out.append("[...")
            depth += 1
        elif c == "]":
            if depth > 0:
                depth -= 1
                if depth == 0:
                    out.append("]")
            else:
                out.append(c)
        elif depth == 0:
            out.append(c)
    if depth > 0:  # unbalanced (truncated name): close what we opened
        out.append("]")
    return "".join(out)


@lru_cache(maxsize=65536)
def normalize_function(name: str) -> str:
    """One spelling for a Go function name from any source (text dump, pprof, DWARF)."""
    s = name.strip()
    if s.startswith("created by "):
        s = s[len("created by "):]
        k = s.find(" in goroutine ")
        if k >= 0:
            s = s[:k]
    s = _strip_args(s)
    return _collapse_brackets(s)


def function_of_frame_line(line: str) -> str:
    """The function name of a ``debug=2`` frame line (``main.f(0x1, ...)`` -> ``main.f``)."""
    return normalize_function(line)


@lru_cache(maxsize=65536)
def import_path(function_name: str) -> str:
    """The import path of a function: ``net/http.(*Transport).roundTrip`` -> ``net/http``."""
    name = _collapse_brackets(function_name)
    slash = name.rfind("/")
    dot = name.find(".", slash + 1)
    return name if dot < 0 else name[:dot]


@lru_cache(maxsize=65536)
def _first_element(function_name: str) -> str:
    path = import_path(function_name)
    k = path.find("/")
    return path if k < 0 else path[:k]


def is_stdlib(function_name: str, module: str | None = None) -> bool:
    """True for the Go standard library and runtime (first path element has no dot, not main).

    ``module``: the service's own module path, for modules whose path has no dot.
    """
    name = normalize_function(function_name)
    if not name:
        return False
    if module:
        path = import_path(name)
        if path == module or path.startswith(module + "/"):
            return False
    first = _first_element(name)
    return "." not in first and first != "main"


def is_runtime(function_name: str) -> bool:
    """The runtime frames pprof strips from the leaf end (``runtime.*``, ``internal/runtime/*``)."""
    return function_name.startswith(("runtime.", "internal/runtime/"))


PROFILER_PREFIXES = ("runtime/pprof.", "net/http/pprof.")


def is_profiler_stack(functions: Sequence[str]) -> bool:
    """A stack of the profiler serving a request (its gzip writer, the profile builder):
    memory in flight while someone, leaksleuth or another client, reads a profile."""
    return any(fn.startswith(PROFILER_PREFIXES) for fn in functions)


def own_frame(functions: Sequence[str], module: str | None = None) -> str:
    """Innermost function of the service's own code in a leaf-first stack, normalised; ""
    when the stack has none."""
    for fn in functions:
        if not is_stdlib(fn, module):
            return normalize_function(fn)
    return ""


def own_frames(functions: Sequence[str], module: str | None = None) -> frozenset[str]:
    """Every function of the service's own code on a stack."""
    return frozenset(fn for fn in functions if not is_stdlib(fn, module))


def site_function(stack: Sequence[str], module: str | None = None) -> str:
    """The name of an allocation site: its own frame; else the innermost frame that is not the
    runtime (``runtime.mallocgc`` says nothing); else the innermost; ``?`` for no stack."""
    own = own_frame(stack, module)
    if own:
        return own
    for name in stack:
        if not is_runtime(name):
            return name
    return stack[0] if stack else "?"


def goroutine_function(stack: Sequence[str], module: str | None = None) -> str:
    """The name of a goroutine: its own frame; else its start function
    (``net/http.(*conn).serve``), which says more than the innermost frame (always a
    ``runtime.gopark`` wait); ``?`` for no stack."""
    own = own_frame(stack, module)
    if own:
        return own
    for name in reversed(stack):
        if not is_runtime(name):
            return name
    return stack[0] if stack else "?"


def group_frame(stack: Sequence[str], module: str | None = None) -> str:
    """The ``own frame`` column of the goroutine table: the own frame; else the innermost frame
    below the runtime's leaf frames (the outermost when all are runtime); "" for no stack."""
    own = own_frame(stack, module)
    if own or not stack:
        return own
    k = 0
    while k < len(stack) - 1 and is_runtime(stack[k]):
        k += 1
    return normalize_function(stack[k])
