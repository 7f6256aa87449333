"""The worker: runs executions (``jsagent.engine``); :class:`WorkerRun` runs one.

``python -m jsagent.worker --pool`` is a pooled worker that runs start commands one after
another (``jsagent.workerloop``: how the agent runs executions); ``python -m jsagent.worker``
alone runs one execution and ends, as described below.

Protocol (``docs/protocol.md``): the first line on stdin is the start command (JSON); the
lines after it are control lines (``{"ack": n}``: the bus stored checkpoint ``n``); end of
file on stdin means the agent is gone, and the job stops as if asked to. Events go as JSON
lines to the file descriptor named by ``JSAGENT_EVENT_FD``; ``print`` output and ``logging``
records become ``log`` events of the step running on the writing thread. SIGTERM stops the
job: running batchlets get ``stop()``, chunks stop at the end of the current chunk.

A start command that is not ended by a newline (all of stdin, then end of file: how the seed's
agent fed its worker) runs without a control channel: checkpoints are not waited for and the
end of stdin is not a stop.

A start command with ``"not-before"`` (RFC 3339) runs no job code before that time: the worker
waits (a stop ends the wait: the execution ends ``stopped``), then emits ``started``; once its
first step ended, if that is within ``GIVE_WAY`` seconds of the not-before, it steps aside until
then (``jsagent.capture.GiveWay``): a burst of runs due at one instant all start first.

The entry points are :func:`run` (one execution) and :func:`jsagent.workerloop.serve` (a pooled
worker): ``python -m jsagent.worker`` calls them (:func:`main`), and so does a child forked by
the zygote (``jsagent.zygote``), which imported all of this up front.
"""
from __future__ import annotations

import contextlib
import gc
import importlib.util
import json
import logging
import os
import signal
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any, BinaryIO, Callable, Iterator
from urllib.parse import unquote, urlparse

from jsagent.capture import EventLogHandler, EventSink, GiveWay, LineStream, StepTag
from jsagent.engine.checkpoint import AckBoard
from jsagent.engine.context import WORKER_LOGGER, Execution
from jsagent.engine.errors import exit_status_of
from jsagent.engine.job import run_job
from jsagent.engine.refs import enable_builtins
from jsagent.events import execution_event, log_event


def classpath_dirs(entries: list[str]) -> tuple[list[str], list[str]]:
    """``sys.path`` entries for classpath entries (``file://`` URLs or paths: directories,
    wheels, zips; a single module's directory), and the skipped ones (other schemes, jars)."""
    dirs, skipped = [], []
    for entry in entries:
        parsed = urlparse(entry)
        if parsed.scheme not in ("file", ""):
            skipped.append(entry)
            continue
        path = unquote(parsed.path) if parsed.scheme == "file" else entry
        if path.endswith(".jar"):
            continue  # Java code: for java-main's -cp, not for sys.path
        dirs.append(os.path.dirname(path) if path.endswith(".py") else path)
    return dirs, skipped


JAVA_CLASSPATH_ENV = "JSAGENT_JAVA_CLASSPATH"


def java_entries(entries: list[str]) -> list[str]:
    """The local jars and directories of a classpath: what java-main puts on ``-cp``."""
    found = []
    for entry in entries:
        parsed = urlparse(entry)
        if parsed.scheme not in ("file", ""):
            continue
        path = unquote(parsed.path) if parsed.scheme == "file" else entry
        if path.endswith(".jar") or os.path.isdir(path):
            found.append(path)
    return found


MAX_WAIT_STEP = 0.5  # seconds: how long a not-before wait trusts the wall clock it started from
GIVE_WAY = 0.05  # a run due at a not-before whose first step ended sooner waits until then


def parse_not_before(value: Any) -> datetime | None:
    """A start command's ``not-before`` (RFC 3339 with an offset) as an aware UTC datetime;
    None when absent; ValueError when it is not such a time."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"not-before must be an RFC 3339 time, not {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not-before must be an RFC 3339 time, not {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"not-before must be an RFC 3339 time with an offset (Z), not {value!r}")
    return parsed.astimezone(timezone.utc)


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
        self._prepared = False
        self._bad_document: Exception | None = None
        self._skipped: list[str] | None = None

    def request_stop(self) -> None:
        """Stop the job (called on a thread of its own: it calls batchlets' ``stop()``)."""
        with self._lock:
            self._stop_early.set()
            execution = self.execution
        if execution is not None:
            execution.stop.request()

    def run(self) -> None:
        """Wait for ``not-before``, emit ``started``, run the job, emit the final execution
        event. A stop during the wait ends the execution ``stopped`` without running anything."""
        try:
            not_before = parse_not_before(self.command.get("not-before"))
        except ValueError as exc:
            self._log("ERROR", f"the start command is not valid: {exc}")
            self.sink.emit(execution_event(self.execution_id, "failed",
                                           f"ValueError: {exc}", self._restart_position()))
            return
        if not_before is not None:
            self.sink = GiveWay(self.sink, GIVE_WAY, not_before.timestamp(), self._stop_early)
            self.prepare()
            gc.collect(1)  # so that no collection is due on the way to the first batchlet
        with self._capture():  # set up before a not-before wait: less to do at the start
            if not_before is not None and not self.wait_until(not_before):
                outcome = "stopped", "STOPPED", self._restart_position()
            else:
                self.sink.emit(execution_event(self.execution_id, "started"))
                missing = [e for e in self._classpath() if e.startswith("sha256:")]
                for entry in self._classpath():
                    if entry not in missing:
                        self._log("WARNING", f"classpath entry {entry!r} is not a local "
                                             f"directory; ignored")
                if missing:
                    message = (f"artifact {missing[0]} could not be fetched from the bus or "
                               f"did not match its hash (the agent's log says why): not run")
                    self._log("ERROR", message)
                    outcome = "failed", message, self._restart_position()
                else:
                    outcome = self._run_job()
        self.sink.emit(execution_event(self.execution_id, *outcome))

    def wait_until(self, not_before: datetime) -> bool:
        """Wait until the wall clock reaches ``not_before``; False when a stop came first.

        The wait is on an Event (monotonic clock inside), at most ``MAX_WAIT_STEP`` at a time
        and re-aimed at the wall clock after each step, so a clock that is set meanwhile moves
        the start with it."""
        target = not_before.timestamp()
        while True:
            remaining = target - time.time()
            if remaining <= 0:
                return not self._stop_early.is_set()
            if self._stop_early.wait(min(remaining, MAX_WAIT_STEP)):
                return False

    def _restart_position(self) -> str | None:
        """Where a restart of an execution that ran nothing begins: where the one before
        left off (None on a first run)."""
        restart = self.command.get("restart")
        return restart.get("position") if isinstance(restart, dict) else None

    @contextlib.contextmanager
    def _capture(self) -> Iterator[None]:
        """``print`` output and ``logging`` records become log events of the running step."""
        out = LineStream(self.sink.emit, self.tag, "INFO", "stdout")
        err = LineStream(self.sink.emit, self.tag, "WARNING", "stderr")
        handler = EventLogHandler(self.sink.emit, self.tag)
        root = logging.getLogger()
        saved = sys.stdout, sys.stderr, root.handlers[:], root.level
        sys.stdout, sys.stderr, root.handlers[:] = out, err, [handler]
        root.setLevel(logging.INFO)
        try:
            yield
        finally:
            out.drain()
            err.drain()
            sys.stdout, sys.stderr, root.handlers[:], level = saved
            root.setLevel(level)

    def _classpath(self) -> list[str]:
        """Put the classpath's Python entries first on ``sys.path`` and its Java entries (jars,
        directories) in ``JSAGENT_JAVA_CLASSPATH`` for java-main (once); the skipped entries."""
        if self._skipped is None:
            entries = list(self.command.get("classpath") or [])
            dirs, self._skipped = classpath_dirs(entries)
            sys.path[:0] = dirs
            os.environ[JAVA_CLASSPATH_ENV] = os.pathsep.join(java_entries(entries))
        return self._skipped

    def prepare(self) -> None:
        """Read the job document, build the execution and find the classpath directories'
        entries: engine and import-system code only, no application code (done before a
        not-before wait, so that less is left to do at the start)."""
        if self._prepared:
            return
        self._prepared = True
        enable_builtins(self.command.get("builtins") or ())  # per execution: workers are reused
        self._classpath()
        try:  # fills the import system's caches of the path entries; imports nothing
            importlib.util.find_spec("jsagent_worker_no_such_module")
        except Exception:  # noqa: BLE001 - only a warm-up
            pass
        from jsbus.jsl.codec import job_from_document
        try:
            job = job_from_document(self.command.get("document"))
        except Exception as exc:  # noqa: BLE001 - a bad document fails the execution
            self._bad_document = exc
            return
        execution = Execution(self.command, job, self.sink.emit, self.tag, self.acks)
        with self._lock:
            self.execution = execution
            stop_now = self._stop_early.is_set()
        if stop_now:
            execution.stop.request()

    def _run_job(self) -> tuple[str, str, str | None]:
        self.prepare()
        if self._bad_document is not None:
            exc = self._bad_document
            self._log("ERROR", f"the job document is not valid: {exc}")
            return "failed", exit_status_of(exc), None
        return run_job(self.execution)

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


def watch_for_stop(run: WorkerRun, signalled: threading.Event,
                   agent_alive: Callable[[], bool]) -> None:
    """Stop the job on SIGTERM (``signalled``) or when the agent that started us is gone.

    The signal handler only sets ``signalled``: the main thread, which runs the job, never
    takes a lock in the handler.
    """
    while not signalled.wait(1.0):
        if not agent_alive():
            break
    run.request_stop()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # gone, or the pid is another user's now
        return False
    return True


def agent_watch(agent_pid: int | None) -> Callable[[], bool]:
    """Whether the agent that started us is alive: the process ``agent_pid`` (a child forked by
    the zygote: its parent is the zygote, whose end must not stop the job), else our parent."""
    if agent_pid is None:
        parent = os.getppid()
        return lambda: os.getppid() == parent
    return lambda: _pid_alive(agent_pid)


def run(stdin: BinaryIO, event_fd: int, agent_pid: int | None = None) -> int:
    """Run the execution whose start command is the first line of ``stdin``, writing events to
    ``event_fd``; the process exit code (0; 2 for a start command that cannot be read).

    The job stops on SIGTERM, at the end of ``stdin`` (with a control channel), or when the
    agent is gone: the process ``agent_pid`` (a child forked by the zygote: its parent is the
    zygote, whose end must not stop the job), else our parent (``python -m jsagent.worker``).
    Call it on the main thread (it sets the SIGTERM handler).
    """
    try:
        first = stdin.readline()
        command = json.loads(first)
        if not isinstance(command, dict):
            raise ValueError("the start command is not a JSON object")
    except ValueError as exc:
        print(f"jsagent.worker: bad start: {exc!r}", file=sys.stderr, flush=True)
        return 2
    control = first.endswith(b"\n")
    acks = AckBoard(wait=control)
    job_run = WorkerRun(command, EventSink(event_fd), acks)
    signalled = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: signalled.set())
    if control:
        threading.Thread(target=read_control, args=(stdin, job_run, acks),
                         name="jsagent-worker-control", daemon=True).start()
    threading.Thread(target=watch_for_stop, args=(job_run, signalled, agent_watch(agent_pid)),
                     name="jsagent-worker-stop", daemon=True).start()
    job_run.run()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    return 0


def main() -> None:
    """Entry point of ``python -m jsagent.worker`` (``--pool``: a pooled worker that runs
    executions one after another, ``jsagent.workerloop``); always ends the process
    (``os._exit``)."""
    try:
        fd = int(os.environ["JSAGENT_EVENT_FD"])
    except (KeyError, ValueError) as exc:
        print(f"jsagent.worker: bad start: {exc!r}", file=sys.stderr, flush=True)
        os._exit(2)
    if sys.argv[1:] == ["--pool"]:
        from jsagent.workerloop import serve
        code = serve(sys.stdin.buffer, fd)
    else:
        code = run(sys.stdin.buffer, fd)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
