"""One pending wake-up for an actor: ``set(when)`` replaces the previous one.

pykka has no timers (stack-notes §2). A ``threading.Timer`` tells the actor a message at the
requested instant; the actor never sleeps, so it keeps answering while it waits.
"""
from __future__ import annotations

import threading
import time

import pykka


class Alarm:
    def __init__(self, ref: pykka.ActorRef, message: object):
        self._ref, self._message = ref, message
        self._timer: threading.Timer | None = None
        self._due: float | None = None
        self._lock = threading.Lock()

    def set(self, delay: float) -> None:
        """Wake the actor in ``delay`` seconds (at once when <= 0), replacing any other wake."""
        due = time.monotonic() + max(0.0, delay)
        with self._lock:
            if self._timer is not None and self._due is not None and abs(self._due - due) < 0.0005:
                return
            self._cancel()
            self._due = due
            self._timer = threading.Timer(max(0.0, delay), self._ring)
            self._timer.daemon = True
            self._timer.start()

    def _ring(self) -> None:
        with self._lock:
            self._timer, self._due = None, None
        try:
            self._ref.tell(self._message)
        except pykka.ActorDeadError:
            pass

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer, self._due = None, None

    def cancel(self) -> None:
        with self._lock:
            self._cancel()
