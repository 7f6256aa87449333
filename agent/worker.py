"""The worker child process: ``python -m jsagent.worker`` runs one execution.

The agent writes the start command (JSON) to stdin and closes it; the worker writes events as
JSON lines to the file descriptor named by ``JSAGENT_EVENT_FD`` (see ``docs/protocol.md``).
SIGTERM asks the running batchlet to ``stop()``; the step and execution then end ``stopped``.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from typing import Any
from urllib.parse import unquote, urlparse

from jsagent.api import JobContext
from jsagent.capture import EventLogHandler, EventSink, LineStream, StepTag
from jsagent.events import execution_event, log_event, step_ended, step_started
from jsagent.steps import StepOutcome, build_batchlet, call_process, failure

WORKER_LOGGER = "jsagent.worker"


def classpath_dirs(entries: list[str]) -> tuple[list[str], list[str]]:
    """Local directories for classpath entries (``file://`` URLs or paths), and the skipped ones."""
    dirs, skipped = [], []
    for entry in entries:
        parsed = urlparse(entry)
        if parsed.scheme == "file":
            dirs.append(unquote(parsed.path))
        elif parsed.scheme == "":
            dirs.append(entry)
        else:
            skipped.append(entry)
    return dirs, skipped


class WorkerRun:
    """Runs the steps of one start command in order, reporting through ``sink``."""

    def __init__(self, command: dict[str, Any], sink: EventSink):
        self.command = command
        self.execution_id = command.get("execution-id")
        self.sink = sink
        self.tag = StepTag(self.execution_id)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._batchlet: Any = None

    def request_stop(self) -> None:
        """Ask the running batchlet to stop (called on a thread of its own)."""
        with self._lock:
            self._stop.set()
            batchlet = self._batchlet
        if batchlet is not None and callable(getattr(batchlet, "stop", None)):
            try:
                batchlet.stop()
            except Exception as exc:  # noqa: BLE001 - report, keep the worker alive
                self._log("ERROR", f"stop() failed: {exc!r}")

    def run(self) -> None:
        """Emit ``started``, run every step, emit the final execution event."""
        self.sink.emit(execution_event(self.execution_id, "started"))
        dirs, skipped = classpath_dirs(list(self.command.get("classpath") or []))
        sys.path[:0] = dirs
        for entry in skipped:
            self._log("WARNING", f"classpath entry {entry!r} is not a local directory; ignored")
        status, exit_status = self._run_with_capture()
        self.sink.emit(execution_event(self.execution_id, status, exit_status))

    def _run_with_capture(self) -> tuple[str, str]:
        out = LineStream(self.sink.emit, self.tag, "INFO", "stdout")
        err = LineStream(self.sink.emit, self.tag, "WARNING", "stderr")
        handler = EventLogHandler(self.sink.emit, self.tag)
        root = logging.getLogger()
        saved = sys.stdout, sys.stderr, root.handlers[:], root.level
        sys.stdout, sys.stderr, root.handlers[:] = out, err, [handler]
        root.setLevel(logging.INFO)
        try:
            return self._run_steps()
        finally:
            out.drain()
            err.drain()
            sys.stdout, sys.stderr, root.handlers[:], level = saved
            root.setLevel(level)

    def _run_steps(self) -> tuple[str, str]:
        document = self.command.get("document") or {}
        job = JobContext(self.execution_id, self.command.get("app", ""),
                         self.command.get("job", ""), dict(self.command.get("parameters") or {}),
                         dict(document.get("properties") or {}))
        for step in document.get("steps") or []:
            if self._stop.is_set():
                return "stopped", "STOPPED"
            outcome = self._run_step(step, job)
            if outcome.status != "completed":
                return outcome.status, outcome.exit_status
        return "completed", "COMPLETED"

    def _run_step(self, step: dict[str, Any], job: JobContext) -> StepOutcome:
        self.tag.step = step["id"]
        self.sink.emit(step_started(self.execution_id, step["id"]))
        try:
            outcome = self._process(step, job)
        finally:
            with self._lock:
                self._batchlet = None
        if outcome.traceback:
            self._log("ERROR", f"step {step['id']} failed: {outcome.exit_status}",
                      outcome.traceback)
        self.sink.emit(step_ended(self.execution_id, step["id"], outcome.status,
                                  outcome.exit_status))
        self.tag.step = None
        return outcome

    def _process(self, step: dict[str, Any], job: JobContext) -> StepOutcome:
        try:
            batchlet = build_batchlet(step, job)
        except BaseException as exc:  # noqa: BLE001 - an unresolvable ref fails the step
            return failure(exc)
        with self._lock:
            self._batchlet = batchlet
            stopped_before = self._stop.is_set()
        if stopped_before:
            return StepOutcome("stopped", "STOPPED")
        return call_process(batchlet, self._stop.is_set)

    def _log(self, level: str, message: str, exception: str | None = None) -> None:
        self.sink.emit(log_event(self.execution_id, self.tag.step, level, WORKER_LOGGER,
                                 message, exception))


def watch_for_stop(run: WorkerRun, signalled: threading.Event, parent: int) -> None:
    """Stop the job on SIGTERM (``signalled``) or when the agent that started us is gone.

    The signal handler only sets ``signalled``: the main thread, which runs the batchlet,
    never takes a lock in the handler.
    """
    while not signalled.wait(1.0):
        if os.getppid() != parent:
            break
    run.request_stop()


def main() -> None:
    """Entry point of the worker child; always ends the process (``os._exit``)."""
    try:
        fd = int(os.environ["JSAGENT_EVENT_FD"])
        command = json.loads(sys.stdin.buffer.read())
    except (KeyError, ValueError) as exc:
        print(f"jsagent.worker: bad start: {exc!r}", file=sys.stderr, flush=True)
        os._exit(2)
    run = WorkerRun(command, EventSink(fd))
    signalled = threading.Event()
    threading.Thread(target=watch_for_stop, args=(run, signalled, os.getppid()),
                     name="jsagent-worker-stop", daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: signalled.set())
    run.run()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
