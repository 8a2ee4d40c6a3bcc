"""analyze layer: a session's snapshots in, a ``Diagnosis`` (the JSON contract) out.

Entry points:
- ``engine.diagnose_session(session_or_snapshots, *, target, settings, go_version, maps=None,
  exe=None, facts=None)``: the pure analysis (no printing, no I/O besides profile loaders).

Opening a stored session, reading the executable, running gdb and starting processes is the
job of ``leaksleuth.app``, which calls this layer.

Modules: ``trend`` (Theil-Sen + Mann-Kendall, plateau and step detection), ``series`` (one
pass over the snapshots), ``classify`` (kinds, explanations, fixes), ``allocsite`` (runtime
frames and calls recovered from the executable), ``engine``.
"""
