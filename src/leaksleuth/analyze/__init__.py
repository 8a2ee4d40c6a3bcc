"""analyze layer: a session's snapshots in, a ``Diagnosis`` (the JSON contract) out.

Entry points:
- ``engine.diagnose_session(session_or_snapshots, *, target, settings, go_version, maps=None,
  exe=None, facts=None)``: the pure analysis (no printing, no I/O besides profile loaders).
- ``workflow.analyze_session_dir(path, exe=None)``: a stored session, with what a live
  ``diagnose`` saved beside it (executable facts, gdb's maps), as ``leaksleuth analyze`` does.
- ``workflow.prepare_inputs(path, pid=..., exe=...)``: read the executable and the maps once.

Modules: ``trend`` (Theil-Sen + Mann-Kendall, plateau and step detection), ``series`` (one
pass over the snapshots), ``classify`` (kinds, explanations, fixes), ``allocsite`` (runtime
frames and calls recovered from the executable), ``engine``, ``workflow``, ``units``.
"""
