"""One thread that calls functions at wall-clock times: when a held execution is handed to a
worker, when a stopped worker is killed, when idle workers are retired.

Callbacks run on the alarm's thread and must be quick (they ``tell`` the runtime actor or send a
signal). The wait is re-aimed at the wall clock at least every ``MAX_WAIT_STEP`` seconds, so a
clock that is set meanwhile moves the alarms with it.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)
MAX_WAIT_STEP = 0.5


class AlarmEntry:
    """One scheduled call; :meth:`cancel` makes it not happen (if it has not yet)."""

    __slots__ = ("when", "callback", "cancelled")

    def __init__(self, when: float, callback: Callable[[], None]):
        self.when, self.callback, self.cancelled = when, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class Alarm:
    """Calls ``callback()`` at (or just after) wall-clock time ``when`` (``time.time()``)."""

    def __init__(self, clock: Callable[[], float] = time.time, name: str = "jsagent-alarm"):
        self._clock = clock
        self._heap: list[tuple[float, int, AlarmEntry]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> "Alarm":
        self._thread.start()
        return self

    def at(self, when: float, callback: Callable[[], None]) -> AlarmEntry:
        entry = AlarmEntry(when, callback)
        with self._cond:
            heapq.heappush(self._heap, (when, next(self._order), entry))
            if self._heap[0][2] is entry:
                self._cond.notify()
        return entry

    def close(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _due(self) -> list[AlarmEntry] | None:
        """Wait for the next due entries (None once closed)."""
        with self._cond:
            while not self._closed:
                while self._heap and self._heap[0][2].cancelled:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                remaining = self._heap[0][0] - self._clock()
                if remaining > 0:
                    self._cond.wait(min(remaining, MAX_WAIT_STEP))
                    continue
                now = self._clock()
                due = []
                while self._heap and self._heap[0][0] <= now:
                    entry = heapq.heappop(self._heap)[2]
                    if not entry.cancelled:
                        due.append(entry)
                return due
            return None

    def _run(self) -> None:
        while (due := self._due()) is not None:
            for entry in due:
                try:
                    entry.callback()
                except Exception:  # noqa: BLE001 - one bad callback must not stop the others
                    log.exception("an alarm callback failed")
