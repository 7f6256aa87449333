"""Host and process statistics for the agent document's ``agent/stats`` (psutil)."""
from __future__ import annotations

import os
from typing import Any

import psutil


class HostStats:
    """Samples memory and CPU; loads are 0..1 fractions since the previous sample."""

    def __init__(self, process: psutil.Process | None = None):
        self._process = process or psutil.Process()
        self._cores = psutil.cpu_count() or 1
        self._process.cpu_percent(None)  # the first call only sets the baseline
        psutil.cpu_percent(None)

    def sample(self) -> dict[str, Any]:
        """The seed's stats shape (see ``docs/protocol.md``)."""
        memory, swap = psutil.virtual_memory(), psutil.swap_memory()
        times = self._process.cpu_times()
        return {
            "memory": {"physical": {"free": memory.available, "total": memory.total},
                       "swap": {"free": swap.free, "total": swap.total}},
            "cpu": {"process": {"load": round(self._process.cpu_percent(None)
                                              / (100.0 * self._cores), 4),
                                "time": int((times.user + times.system) * 1e9)},
                    "system": {"load": round(psutil.cpu_percent(None) / 100.0, 4),
                               "load-average": round(os.getloadavg()[0], 2)}},
        }
