"""Step metrics: the eight counters of the specification, under the protocol's names."""
from __future__ import annotations

import threading
from typing import Iterable

from jsagent.api import METRIC_NAMES


def new_metrics() -> dict[str, int]:
    """A fresh set of counters, all zero (the dict a StepContext shows as ``metrics``)."""
    return dict.fromkeys(METRIC_NAMES, 0)


def add(metrics: dict[str, int], name: str, count: int = 1) -> None:
    """Add ``count`` to one counter (each counter set belongs to one thread)."""
    metrics[name] = metrics.get(name, 0) + count


def snapshot(metrics: dict[str, int]) -> dict[str, int]:
    """The counters as the protocol sends them: every name, whole numbers."""
    return {name: int(metrics.get(name, 0)) for name in METRIC_NAMES}


class MetricsTotal:
    """Sums the counters of a partitioned step's partitions (written from several threads)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._total = new_metrics()

    def add_all(self, parts: Iterable[dict[str, int]]) -> None:
        with self._lock:
            for part in parts:
                for name in METRIC_NAMES:
                    self._total[name] += int(part.get(name, 0))

    def into(self, metrics: dict[str, int]) -> None:
        """Add the totals to ``metrics`` (the step's own counters)."""
        with self._lock:
            for name in METRIC_NAMES:
                metrics[name] = metrics.get(name, 0) + self._total[name]
