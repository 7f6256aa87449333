"""Periodic housekeeping driven by the ``schedule`` library on one plain thread.

Cron fires never come from here (they are computed exactly); this only keeps the lights on:
leader-lock retries, agent lease checks, dispatch retries. Each job must be quick and is
guarded: one that raises is logged and runs again next time.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

import schedule

log = logging.getLogger(__name__)


class Housekeeper:
    def __init__(self, name: str = "housekeeping"):
        self.scheduler = schedule.Scheduler()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def every(self, seconds: float, job: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                job()
            except Exception:  # noqa: BLE001 - keep housekeeping alive
                log.exception("housekeeping job %s failed", getattr(job, "__name__", job))
        self.scheduler.every(seconds).seconds.do(guarded)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.scheduler.run_pending()
            idle = self.scheduler.idle_seconds
            self._stop.wait(max(0.01, min(idle if idle is not None else 1.0, 1.0)))

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
