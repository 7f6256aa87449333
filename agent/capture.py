"""Inside the worker: turns ``print()`` output and ``logging`` records into ``log`` events."""
from __future__ import annotations

import io
import json
import logging
import os
import threading
import time
import traceback
from datetime import datetime, timezone
from typing import Any, Callable

from jsagent.events import log_event


class EventSink:
    """Writes events as JSON lines to the agent's event pipe; safe to call from any thread.

    A broken pipe (the agent went away) is remembered, not raised: the job keeps running.
    """

    def __init__(self, fd: int):
        self._fd = fd
        self._lock = threading.Lock()
        self.broken = False

    def emit(self, event: dict[str, Any]) -> None:
        line = (json.dumps(event, default=str) + "\n").encode()
        with self._lock:
            if self.broken:
                return
            try:
                while line:  # a pipe takes it whole unless a signal interrupts the write
                    line = line[os.write(self._fd, line):]
            except OSError:
                self.broken = True


class GiveWay:
    """Emits through ``sink``; once, right after the first ``step-ended`` event, and only if
    that comes less than ``seconds`` after ``since`` (the not-before, a wall-clock timestamp),
    it waits until ``since + seconds`` (a stop cuts the wait short).

    For a run that started at a not-before: when many executions are due at the same instant,
    each worker that woke runs its job's start and its whole tail (events, clean-up) before the
    next worker gets a CPU, so the last ones start late. Stepping aside when the first step
    ended right after the slot lets the others start first: the start is what must be precise,
    the rest is not. A first step that ran longer than that never waits.
    """

    def __init__(self, sink: EventSink, seconds: float, since: float, stop: threading.Event):
        self._sink, self._until, self._stop = sink, since + seconds, stop
        self._pending = True

    @property
    def broken(self) -> bool:
        return self._sink.broken

    def emit(self, event: dict[str, Any]) -> None:
        self._sink.emit(event)
        if self._pending and event.get("type") == "step-ended":
            self._pending = False
            remaining = self._until - time.time()
            if remaining > 0:
                self._stop.wait(remaining)


class StepTag:
    """Which execution and step a log line belongs to (None between steps).

    The step is kept per thread: split flows and partitions run on threads of their own, and
    each line is tagged with the step running on the thread that wrote it. A thread that never
    set a step (one an application started) gets the step set last by any thread.
    """

    def __init__(self, execution_id: int):
        self.execution_id = execution_id
        self._local = threading.local()
        self._last: str | None = None

    @property
    def step(self) -> str | None:
        return getattr(self._local, "step", self._last)

    @step.setter
    def step(self, value: str | None) -> None:
        self._local.step = value
        if value is not None:
            self._last = value


class LineStream(io.TextIOBase):
    """A text stream (for ``sys.stdout``/``sys.stderr``) that emits one log event per line."""

    def __init__(self, emit: Callable[[dict], None], tag: StepTag, level: str, logger: str):
        super().__init__()
        self._emit, self._tag, self._level, self._logger = emit, tag, level, logger
        self._partial = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        return "utf-8"

    def write(self, text: str) -> int:
        with self._lock:
            *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._send(line)
        return len(text)

    def drain(self) -> None:
        """Emit a last line that has no newline yet."""
        with self._lock:
            line, self._partial = self._partial, ""
        if line:
            self._send(line)

    def _send(self, line: str) -> None:
        self._emit(log_event(self._tag.execution_id, self._tag.step, self._level, self._logger,
                             line.rstrip("\r")))


class EventLogHandler(logging.Handler):
    """A root ``logging`` handler that emits each record as a log event of the current step."""

    def __init__(self, emit: Callable[[dict], None], tag: StepTag):
        super().__init__(logging.NOTSET)
        self._emit, self._tag = emit, tag

    def emit(self, record: logging.LogRecord) -> None:
        try:
            exception = None
            if record.exc_info:
                exception = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            elif record.exc_text:
                exception = record.exc_text
            when = datetime.fromtimestamp(record.created, timezone.utc)
            stamp = when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            self._emit(log_event(self._tag.execution_id, self._tag.step, record.levelname,
                                 record.name, record.getMessage(), exception, stamp))
        except Exception:  # noqa: BLE001 - logging must never break the job
            self.handleError(record)
