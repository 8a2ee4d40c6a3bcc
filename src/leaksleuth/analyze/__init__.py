"""analyze layer: a session's snapshots in, a ``Diagnosis`` (the JSON contract) out.

Entry points: ``series.reduce_session(snapshots)`` (the one pass over the profiles) and
``engine.diagnose_series(series, ...)`` (the analysis proper, no I/O).

Opening a stored session, reading the executable, running gdb and starting processes is the
job of ``leaksleuth.app.diagnose``, the one analysis every command and test calls.

Modules: ``trend`` (Theil-Sen + Mann-Kendall, plateau and step detection), ``series`` (one
pass over the snapshots), ``classify`` (kinds, explanations, fixes), ``allocsite`` (runtime
frames and calls recovered from the executable), ``engine``.
"""
