"""The worker child process: ``python -m jsagent.worker`` runs one execution (``jsagent.engine``).

Protocol (``docs/protocol.md``): the first line on stdin is the start command (JSON); the
lines after it are control lines (``{"ack": n}``: the bus stored checkpoint ``n``); end of
file on stdin means the agent is gone, and the job stops as if asked to. Events go as JSON
lines to the file descriptor named by ``JSAGENT_EVENT_FD``; ``print`` output and ``logging``
records become ``log`` events of the step running on the writing thread. SIGTERM stops the
job: running batchlets get ``stop()``, chunks stop at the end of the current chunk.

A start command that is not ended by a newline (all of stdin, then end of file: how the seed's
agent fed its worker) runs without a control channel: checkpoints are not waited for and the
end of stdin is not a stop.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from typing import Any, BinaryIO
from urllib.parse import unquote, urlparse

from jsagent.capture import EventLogHandler, EventSink, LineStream, StepTag
from jsagent.engine.checkpoint import AckBoard
from jsagent.engine.context import WORKER_LOGGER, Execution
from jsagent.engine.errors import exit_status_of
from jsagent.engine.job import run_job
from jsagent.events import execution_event, log_event


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
    """Runs the job of one start command, reporting through ``sink``."""

    def __init__(self, command: dict[str, Any], sink: EventSink, acks: AckBoard | None = None):
        self.command = command
        self.execution_id = command.get("execution-id")
        self.sink = sink
        self.tag = StepTag(self.execution_id)
        self.acks = acks or AckBoard(wait=False)
        self.execution: Execution | None = None
        self._stop_early = threading.Event()
        self._lock = threading.Lock()

    def request_stop(self) -> None:
        """Stop the job (called on a thread of its own: it calls batchlets' ``stop()``)."""
        with self._lock:
            self._stop_early.set()
            execution = self.execution
        if execution is not None:
            execution.stop.request()

    def run(self) -> None:
        """Emit ``started``, run the job, emit the final execution event."""
        self.sink.emit(execution_event(self.execution_id, "started"))
        dirs, skipped = classpath_dirs(list(self.command.get("classpath") or []))
        sys.path[:0] = dirs
        for entry in skipped:
            self._log("WARNING", f"classpath entry {entry!r} is not a local directory; ignored")
        status, exit_status, position = self._run_with_capture()
        self.sink.emit(execution_event(self.execution_id, status, exit_status, position))

    def _run_with_capture(self) -> tuple[str, str, str | None]:
        out = LineStream(self.sink.emit, self.tag, "INFO", "stdout")
        err = LineStream(self.sink.emit, self.tag, "WARNING", "stderr")
        handler = EventLogHandler(self.sink.emit, self.tag)
        root = logging.getLogger()
        saved = sys.stdout, sys.stderr, root.handlers[:], root.level
        sys.stdout, sys.stderr, root.handlers[:] = out, err, [handler]
        root.setLevel(logging.INFO)
        try:
            return self._run_job()
        finally:
            out.drain()
            err.drain()
            sys.stdout, sys.stderr, root.handlers[:], level = saved
            root.setLevel(level)

    def _run_job(self) -> tuple[str, str, str | None]:
        from jsbus.jsl.codec import job_from_document
        try:
            job = job_from_document(self.command.get("document"))
        except Exception as exc:  # noqa: BLE001 - a bad document fails the execution
            self._log("ERROR", f"the job document is not valid: {exc}")
            return "failed", exit_status_of(exc), None
        execution = Execution(self.command, job, self.sink.emit, self.tag, self.acks)
        with self._lock:
            self.execution = execution
            stop_now = self._stop_early.is_set()
        if stop_now:
            execution.stop.request()
        return run_job(execution)

    def _log(self, level: str, message: str, exception: str | None = None) -> None:
        self.sink.emit(log_event(self.execution_id, self.tag.step, level, WORKER_LOGGER,
                                 message, exception))


def read_control(stream: BinaryIO, run: WorkerRun, acks: AckBoard) -> None:
    """Control lines after the start command; end of file stops the job (the agent is gone)."""
    for line in stream:
        if not line.strip():
            continue
        try:
            message = json.loads(line)
        except ValueError:
            run._log("WARNING", f"unreadable control line: {line[:200]!r}")
            continue
        if isinstance(message, dict) and "ack" in message:
            acks.acknowledge(message["ack"])
        else:
            run._log("WARNING", f"unknown control line: {message!r}"[:300])
    acks.close()
    run.request_stop()


def watch_for_stop(run: WorkerRun, signalled: threading.Event, parent: int) -> None:
    """Stop the job on SIGTERM (``signalled``) or when the agent that started us is gone.

    The signal handler only sets ``signalled``: the main thread, which runs the job, never
    takes a lock in the handler.
    """
    while not signalled.wait(1.0):
        if os.getppid() != parent:
            break
    run.request_stop()


def main() -> None:
    """Entry point of the worker child; always ends the process (``os._exit``)."""
    stdin = sys.stdin.buffer
    try:
        fd = int(os.environ["JSAGENT_EVENT_FD"])
        first = stdin.readline()
        command = json.loads(first)
        if not isinstance(command, dict):
            raise ValueError("the start command is not a JSON object")
    except (KeyError, ValueError) as exc:
        print(f"jsagent.worker: bad start: {exc!r}", file=sys.stderr, flush=True)
        os._exit(2)
    control = first.endswith(b"\n")
    acks = AckBoard(wait=control)
    run = WorkerRun(command, EventSink(fd), acks)
    if control:
        threading.Thread(target=read_control, args=(stdin, run, acks),
                         name="jsagent-worker-control", daemon=True).start()
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
