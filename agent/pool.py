"""The agent's pool of pre-started worker processes, reused from one execution to the next.

A worker is bound to a key at its first run (the execution's classpath and working directory:
two applications may have modules of the same name) and from then on only runs executions of
that key; until then it is a spare that any execution may take. The rules that keep executions
apart (when a worker is retired instead of reused) are in ``docs/protocol.md``, "Inside the
agent". The pool belongs to the runtime actor: call it on the actor's thread only. Workers are
started on the :class:`Launcher`'s thread (a fork by the zygote may take a moment) and come back
to the actor as ``WorkerStarted``.
"""
from __future__ import annotations

import itertools
import logging
import queue
import random
import threading
import time
from dataclasses import dataclass
from typing import Callable

from jsagent.alarm import Alarm, AlarmEntry
from jsagent.pipes import PipeWatcher
from jsagent.workerproc import PoolWorker

log = logging.getLogger(__name__)
FAILURE_PAUSE = 5.0  # seconds without spare launches after a worker could not start


@dataclass(frozen=True)
class WorkerStarted:
    worker: PoolWorker


@dataclass(frozen=True)
class WorkerNotStarted:
    error: str


@dataclass(frozen=True)
class SweepPool:
    """Retire the workers idle for longer than ``PoolSettings.idle``."""


@dataclass(frozen=True)
class PoolSettings:
    """``reuse``: executions a worker runs before it is replaced (0 or 1: one each);
    ``idle``: seconds a worker may wait for work; ``max_idle``: most idle workers kept;
    ``spare``: unbound workers kept started; ``limit``: most worker processes at once."""

    reuse: int = 200
    idle: float = 60.0
    max_idle: int = 8
    spare: int = 2
    limit: int = 64


class Launcher:
    """Starts workers one after another on a thread of its own; each result goes to
    ``notify`` as ``WorkerStarted`` or ``WorkerNotStarted``."""

    def __init__(self, spawn: Callable[[int], PoolWorker], notify: Callable[[object], None]):
        self._spawn, self._notify = spawn, notify
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def request(self, number: int) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="jsagent-launcher",
                                            daemon=True)
            self._thread.start()
        self._requests.put(number)

    def close(self) -> None:
        if self._thread is not None:
            self._requests.put(None)

    def _run(self) -> None:
        while (number := self._requests.get()) is not None:
            try:
                worker = self._spawn(number)
            except Exception as exc:  # noqa: BLE001 - e.g. no fds or processes left
                log.error("a worker could not start: %s", exc)
                self._notify(WorkerNotStarted(str(exc)))
                continue
            self._notify(WorkerStarted(worker))


class WorkerPool:
    """Idle workers by key, spares, launches and retirements."""

    def __init__(self, settings: PoolSettings, spawn: Callable[[int], PoolWorker],
                 watcher: PipeWatcher, notify: Callable[[object], None], alarm: Alarm,
                 clock: Callable[[], float] = time.time):
        self.settings = settings
        self._watcher, self._notify, self._alarm, self._clock = watcher, notify, alarm, clock
        self._launcher = Launcher(spawn, notify)
        self._idle: dict[tuple, list[PoolWorker]] = {}
        self._idle_count = 0
        self._spares: list[PoolWorker] = []
        self._live: set[PoolWorker] = set()
        self._launching = 0
        self._numbers = itertools.count(1)
        self._sweep: AlarmEntry | None = None
        self._failed_at = float("-inf")
        self._closed = False
        self._random = random.Random()

    @property
    def live(self) -> int:
        """Worker processes started and not ended yet."""
        return len(self._live)

    def available(self) -> bool:
        """Whether some execution could get a worker now."""
        return bool(self._spares or self._idle_count)

    def take(self, key: tuple) -> PoolWorker | None:
        """An idle worker of ``key`` (the one that ran last: the others may time out), else a
        spare (bound to ``key`` from now on), else None."""
        workers = self._idle.get(key)
        if workers:
            worker = workers.pop()
            self._idle_count -= 1
            if not workers:
                del self._idle[key]
            return worker
        if self._spares:
            worker = self._spares.pop()
            worker.key = key
            return worker
        return None

    def assign(self, worker: PoolWorker, execution_id: int, line: bytes) -> None:
        """Hand ``worker`` the start command ``line`` of ``execution_id``."""
        worker.execution_id = execution_id
        worker.runs += 1
        self._watcher.send(worker, line)

    def top_up(self, waiting: int) -> None:
        """Start workers for ``waiting`` executions that found none, and keep ``spare``
        unbound ones ready (an idle worker of another key is retired to make room)."""
        if self._closed:
            return
        spare = self.settings.spare if self._clock() - self._failed_at > FAILURE_PAUSE else 0
        wanted = waiting + spare - len(self._spares) - self._launching
        if wanted <= 0:
            return
        room = self.settings.limit - len(self._live) - self._launching
        while room < min(wanted, waiting) and self._retire_least_recent("the pool needs room"):
            room += 1  # it ends by itself; until then it still counts as live
        for _ in range(max(0, min(wanted, room))):
            self._launching += 1
            self._launcher.request(next(self._numbers))

    def started(self, worker: PoolWorker) -> None:
        self._launching = max(0, self._launching - 1)
        worker.reuse = self._reuse_limit()
        self._live.add(worker)
        self._watcher.add(worker)
        worker.idle_since = self._clock()
        if self._closed:
            self.retire(worker, "the agent is shutting down")
        else:
            self._spares.append(worker)

    def not_started(self) -> None:
        self._launching = max(0, self._launching - 1)
        self._failed_at = self._clock()

    def run_ended(self, worker: PoolWorker, reuse: bool, reason: str | None) -> None:
        """The worker's run ended: keep it idle for its key, or retire it."""
        worker.execution_id = None
        if not reuse:
            self.retire(worker, reason or "the worker did not offer to run again")
        elif worker.retired or worker.stopping:
            self.retire(worker, worker.retired or "its execution was stopped")
        elif worker.runs >= worker.reuse:
            self.retire(worker, f"it ran {worker.runs} executions")
        elif self._closed:
            self.retire(worker, "the agent is shutting down")
        else:
            worker.idle_since = self._clock()
            self._idle.setdefault(worker.key, []).append(worker)
            self._idle_count += 1
            if self._idle_count > self.settings.max_idle:
                self._retire_least_recent("too many idle workers")
            self._arm_sweep(worker.idle_since + self.settings.idle)

    def retire(self, worker: PoolWorker, why: str) -> None:
        """Never run another execution on ``worker``; its stdin ends, so it ends."""
        if worker.retired is None:
            worker.retired = why
        self._forget_idle(worker)
        log.debug("%r retired: %s", worker, why)
        self._watcher.close_stdin(worker)

    def gone(self, worker: PoolWorker) -> None:
        self._live.discard(worker)
        self._forget_idle(worker)

    def sweep(self) -> None:
        self._sweep = None
        now, oldest = self._clock(), None
        for workers in list(self._idle.values()):
            for worker in list(workers):
                if now - worker.idle_since >= self.settings.idle:
                    self.retire(worker, f"idle for {self.settings.idle:g} s")
                elif oldest is None or worker.idle_since < oldest:
                    oldest = worker.idle_since
        if oldest is not None:
            self._arm_sweep(oldest + self.settings.idle)

    def close(self) -> None:
        """Retire every idle worker and start no more; busy ones retire when their run ends."""
        self._closed = True
        for worker in [*self._spares, *itertools.chain(*self._idle.values())]:
            self.retire(worker, "the agent is shutting down")
        self._launcher.close()

    def _reuse_limit(self) -> int:
        """How many executions a new worker runs: between 3/4 of ``settings.reuse`` and all of
        it, so that workers started together are not all replaced in the same moment."""
        reuse = max(1, self.settings.reuse)
        return self._random.randint(max(1, (3 * reuse + 3) // 4), reuse)

    def _forget_idle(self, worker: PoolWorker) -> None:
        if worker in self._spares:
            self._spares.remove(worker)
            return
        workers = self._idle.get(worker.key)
        if workers and worker in workers:
            workers.remove(worker)
            self._idle_count -= 1
            if not workers:
                del self._idle[worker.key]

    def _retire_least_recent(self, why: str) -> bool:
        idle = [worker for workers in self._idle.values() for worker in workers]
        if not idle:
            return False
        self.retire(min(idle, key=lambda worker: worker.idle_since), why)
        return True

    def _arm_sweep(self, when: float) -> None:
        if self._sweep is not None and self._sweep.when <= when:
            return
        if self._sweep is not None:
            self._sweep.cancel()
        self._sweep = self._alarm.at(when, lambda: self._notify(SweepPool()))
