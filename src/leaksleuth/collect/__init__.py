"""collect layer: take snapshots from a live service and keep them as durable evidence.

- ``collector.collect(CollectConfig(url, ...)) -> SessionInfo``: run the ticks.
- ``session.open_session(path) -> Session``: read a stored session back, lazily.
- ``store.Store(root)``: the sessions directory; each session has its own SQLite index.
- ``archive.export_session`` / ``archive.import_session``: one ``.tar.gz`` per session.
- ``client.PprofClient``: the HTTP client (size limit, retries, secret-free errors).
"""
