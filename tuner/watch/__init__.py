"""``chatchat-tune watch``: keep measuring after the tuning, as Prometheus metrics and alerts.

Layers: ``model`` (values) and the pure core — ``rounds`` (what a round may send), ``drift`` (one round's
observation + the state so far → decisions), ``findings`` (the doctor's rules on what a round saw),
``alerts`` (the alert table, the rules YAML and the Grafana dashboard) — then the I/O edges: ``baseline``
(plan, study, applied record, settings hash), ``probe`` (one bounded round), ``exposition``
(prometheus-client) and ``run`` (the loop, ``--once``, ``--emit``).
"""
