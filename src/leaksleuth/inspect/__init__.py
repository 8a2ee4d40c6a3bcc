"""inspect layer: read Go runtime structures of a live process or a core with gdb.

Public entry points:
- ``maps.inspect_maps(pid=... | core=..., exe=...) -> MapInspection`` (items: ``MapReport``,
  ``.to_finding()`` gives ``findings.MapFinding``, what analyses and reports take);
- ``classify.classify_heap_stacks(exe, heap_text_profile) -> HeapClassification``;
- ``buildinfo.read_buildinfo(exe) -> BuildInfo`` (Go version, map layout);
- ``pclntab.PcTable(exe).lookup(pc)`` (PC -> function, stripped executables included) and
  ``.calls(function)`` (the functions it calls directly, read from its machine code).
"""
