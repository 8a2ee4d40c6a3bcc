"""``leaksleuth watch``: continuous fleet leak detection on top of Prometheus.

Layer 1 (``prom``, ``targets``, ``screen``) reads the memory history Prometheus already holds
and ranks the fleet; nothing here talks to the services themselves.
"""
