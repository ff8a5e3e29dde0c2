"""Counters for ``GET /lab/stats`` (not part of Ollama): what tests and benchmarks check the lab did."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ModelCounters:
    in_flight: int = 0  # requests for this model being handled (arrival to last byte)
    max_in_flight: int = 0
    active: int = 0  # requests holding one of the model's num_parallel slots
    max_active: int = 0
    loads: int = 0
    unloads: int = 0
    aborted_loads: int = 0
    load_timeouts: int = 0  # loads that failed after the load timeout (tuner.lab.placement)

    def enter(self) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        self.in_flight -= 1

    def slot_taken(self) -> None:
        self.active += 1
        self.max_active = max(self.max_active, self.active)

    def slot_freed(self) -> None:
        self.active -= 1


@dataclass
class LabStats:
    connections_opened: int = 0
    connections_current: int = 0
    requests: Counter[str] = field(default_factory=Counter)  # "POST /api/chat" -> n
    statuses: Counter[int] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)  # fault name -> times injected
    busy_503: int = 0
    models: dict[str, ModelCounters] = field(default_factory=dict)

    def model(self, name: str) -> ModelCounters:
        counters = self.models.get(name)
        if counters is None:
            counters = self.models[name] = ModelCounters()
        return counters

    def reset(self) -> None:
        """Zero the counters; gauges (current connections, in-flight, active) keep their live values."""
        self.connections_opened = 0
        self.requests.clear()
        self.statuses.clear()
        self.faults.clear()
        self.busy_503 = 0
        for m in self.models.values():
            m.max_in_flight = m.in_flight
            m.max_active = m.active
            m.loads = m.unloads = m.aborted_loads = 0

    def to_dict(self, resident: list[dict[str, Any]]) -> dict[str, Any]:
        models = {name: vars(c).copy() for name, c in sorted(self.models.items())}
        return {
            "connections_opened": self.connections_opened,
            "connections_current": self.connections_current,
            "requests": dict(sorted(self.requests.items())),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "faults": dict(sorted(self.faults.items())),
            "busy_503": self.busy_503,
            "loads": sum(c.loads for c in self.models.values()),
            "unloads": sum(c.unloads for c in self.models.values()),
            "aborted_loads": sum(c.aborted_loads for c in self.models.values()),
            "max_in_flight": max((c.max_in_flight for c in self.models.values()), default=0),
            "models": models,
            "resident": resident,
        }
