"""Scheduled executions the runtime keeps until just before their slot.

A start command with a ``not-before`` more than ``agent.handoff`` seconds away is not given to
a worker at once: the runtime holds it and hands it over ``handoff`` seconds before its
not-before (the worker prepares what it can, then waits for the exact time itself). One alarm
entry is armed for the earliest handoff; when it rings the runtime is told (``HandOffDue``) and
takes every hold that is due in one go.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from jsagent.alarm import Alarm, AlarmEntry

EARLY = 0.001  # seconds: holds due this soon are handed over with the ones due now


@dataclass(frozen=True)
class HandOffDue:
    """Some held executions are due for a worker."""


def not_before_seconds(not_before: str | None) -> float | None:
    """A start command's (normalised) ``not-before`` as POSIX seconds; None when absent."""
    if not not_before:
        return None
    return datetime.fromisoformat(not_before.replace("Z", "+00:00")).timestamp()


class Holds:
    """Execution ids by handoff time; ``wake()`` is called (on the alarm's thread) when the
    earliest is due."""

    def __init__(self, alarm: Alarm, wake: Callable[[], None],
                 clock: Callable[[], float]):
        self._alarm, self._wake, self._clock = alarm, wake, clock
        self._heap: list[tuple[float, int]] = []
        self._armed: AlarmEntry | None = None

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, when: float, execution_id: int) -> None:
        heapq.heappush(self._heap, (when, execution_id))
        if self._armed is None or when < self._armed.when:
            self._arm()

    def due(self) -> list[int]:
        """The execution ids whose handoff time has come (stopped ones included: the caller
        skips them), earliest first; the alarm is armed for the next."""
        limit = self._clock() + EARLY
        ids = []
        while self._heap and self._heap[0][0] <= limit:
            ids.append(heapq.heappop(self._heap)[1])
        self._arm()
        return ids

    def _arm(self) -> None:
        if self._armed is not None:
            self._armed.cancel()
            self._armed = None
        if self._heap:
            self._armed = self._alarm.at(self._heap[0][0], self._wake)
