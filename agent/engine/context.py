"""The state of one execution inside the worker: the start command, where events go, stop
requests, checkpoint acknowledgements and what a restart resumes from."""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from jsagent.api import BatchStatus, JobContext, StepExecution
from jsagent.engine.checkpoint import AckBoard
from jsagent.engine.properties import Substitution
from jsagent.events import log_event
from jsbus.jsl.model import Job

WORKER_LOGGER = "jsagent.worker"
log = logging.getLogger(WORKER_LOGGER)


class StopControl:
    """A stop request (SIGTERM, or the agent gone): sets the flag the chunk loops and the
    navigator look at, marks the running contexts STOPPING and calls ``stop()`` on every
    running batchlet (on the caller's thread)."""

    def __init__(self):
        self.event = threading.Event()
        self._lock = threading.Lock()
        self._running: dict[int, Any] = {}  # id -> a batchlet whose process() runs
        self._contexts: dict[int, Any] = {}  # by identity (contexts compare by value)

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def watch_context(self, context: Any) -> None:
        """A job or step context whose batch status becomes STOPPING on a stop."""
        with self._lock:
            self._contexts[id(context)] = context
            if self.event.is_set():
                context.batch_status = BatchStatus.STOPPING

    def unwatch_context(self, context: Any) -> None:
        with self._lock:
            self._contexts.pop(id(context), None)

    def running(self, batchlet: Any) -> bool:
        """Register a batchlet about to run; False when a stop came first (do not run it)."""
        with self._lock:
            if self.event.is_set():
                return False
            self._running[id(batchlet)] = batchlet
            return True

    def finished(self, batchlet: Any) -> None:
        with self._lock:
            self._running.pop(id(batchlet), None)

    def request(self) -> None:
        with self._lock:
            if self.event.is_set():
                return
            self.event.set()
            batchlets = list(self._running.values())
            for context in self._contexts.values():
                context.batch_status = BatchStatus.STOPPING
        for batchlet in batchlets:
            stop = getattr(batchlet, "stop", None)
            if callable(stop):
                try:
                    stop()
                except BaseException as exc:  # noqa: BLE001 - report, keep stopping
                    log.error("stop() of %s failed: %r", type(batchlet).__name__, exc)


def _upper(status: Any) -> str | None:
    return None if status is None else str(status).upper()


class RestartInfo:
    """The start command's ``restart`` object (empty on a first run)."""

    def __init__(self, raw: dict[str, Any] | None):
        self.active = raw is not None
        raw = raw or {}
        self.position: str | None = raw.get("position")
        self.previous_execution = raw.get("previous-execution")
        self._steps: dict[str, dict] = dict(raw.get("steps") or {})
        self._checkpoints: dict[str, dict] = dict(raw.get("checkpoints") or {})

    def step(self, name: str) -> dict[str, Any] | None:
        return self._steps.get(name) if self.active else None

    def status(self, name: str) -> str | None:
        """The step's last batch status (upper case), None if it never ran."""
        step = self.step(name)
        return None if step is None else _upper(step.get("batch-status"))

    def start_count(self, name: str) -> int:
        step = self.step(name) or {}
        count = step.get("start-count", 0)
        return count if isinstance(count, int) else 0

    def checkpoint(self, name: str, partition: int) -> dict[str, Any] | None:
        points = self._checkpoints.get(name) or {}
        return points.get(str(partition), points.get(partition))

    def execution(self, name: str) -> StepExecution | None:
        step = self.step(name)
        if step is None:
            return None
        return StepExecution(name, _upper(step.get("batch-status")) or BatchStatus.COMPLETED,
                             step.get("exit-status"), dict(step.get("metrics") or {}),
                             step.get("persistent-user-data"), self.previous_execution)


class Execution:
    """Everything the engine's parts share for one execution (the worker builds it)."""

    def __init__(self, command: dict[str, Any], job: Job, emit: Callable[[dict], None],
                 tag: Any, acks: AckBoard | None = None):
        self.command = command
        self.job = job
        self.execution_id = command.get("execution-id")
        self.parameters = {str(k): "" if v is None else str(v)
                           for k, v in (command.get("parameters") or {}).items()}
        self.emit = emit
        self.tag = tag
        self.acks = acks or AckBoard(wait=False)
        self.stop = StopControl()
        self.restart = RestartInfo(command.get("restart"))
        self.job_context = JobContext(self.execution_id, command.get("app", ""),
                                      command.get("job", "") or job.id, self.parameters,
                                      stop_event=self.stop.event)
        self.job_substitution = Substitution(self.parameters)
        self._visited: set[str] = set()
        self._visited_lock = threading.Lock()

    def visit(self, element_id: str) -> bool:
        """Record that execution transitioned to ``element_id``; False the second time (a
        loop, which JSR-352 8.9.3 forbids)."""
        with self._visited_lock:
            if element_id in self._visited:
                return False
            self._visited.add(element_id)
            return True

    def log(self, level: str, message: str, exception: str | None = None) -> None:
        """A log event of the worker itself, tagged with this thread's step."""
        self.emit(log_event(self.execution_id, self.tag.step, level, WORKER_LOGGER, message,
                            exception))
