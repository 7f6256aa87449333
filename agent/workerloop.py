"""A pooled worker: one long-lived process that runs executions one after another.

``python -m jsagent.worker --pool`` (or a child forked by the zygote for the pool) calls
:func:`serve`. Protocol (``docs/protocol.md``, "Inside the agent"): each start command arrives
as one line on stdin and runs with the same :class:`~jsagent.worker.WorkerRun` as a one-off
worker; ``{"ack": n}`` lines go to the execution running now; end of file on stdin stops the
running execution (the agent is gone, or retires this worker) and ends the process once it is
idle. After each run the worker puts things back as they were (``sys.path``, the working
directory, ``os.environ``, its SIGTERM handler), writes :data:`END_OF_RUN` on stdout and on
stderr (so that the agent can tell output written straight to the file descriptors by one
execution from the next's), then ``{"ready": <execution-id>, "reuse": bool, "reason": text}`` on
its event pipe. ``reuse`` is false, and the process ends, when the run cannot be undone: it
left non-daemon threads or child processes running, the state could not be restored, or a
stop (SIGTERM) came: a stopped worker never runs another execution.
"""
from __future__ import annotations

import ctypes
import json
import logging
import os
import queue
import signal
import sys
import threading
from typing import Any, BinaryIO, Callable

from jsagent.capture import EventSink
from jsagent.engine.checkpoint import AckBoard
from jsagent.worker import WorkerRun, agent_watch

END_OF_RUN = b"\0jsagent:end-of-run\n"  # on stdout and stderr after each run
PR_SET_CHILD_SUBREAPER = 36
# Seconds between checks that the agent is alive (its end is normally seen at once: the end of
# stdin); rare, so that hundreds of idle workers do not wake the machine for nothing.
AGENT_CHECK = 5.0


class ControlChannel:
    """Reads stdin on a thread of its own: start commands go to :attr:`commands` (with the
    AckBoard of their run), acks to the board of the latest command, and the end of stdin
    closes that board and calls ``on_end``."""

    def __init__(self, stdin: BinaryIO, on_end: Callable[[str], None]):
        self.commands: queue.SimpleQueue = queue.SimpleQueue()
        self._stdin, self._on_end = stdin, on_end
        self._acks: AckBoard | None = None

    def start(self) -> None:
        threading.Thread(target=self._read, name="jsagent-worker-control", daemon=True).start()

    def _read(self) -> None:
        try:
            for line in self._stdin:
                if line.strip():
                    self._line(line)
        except (OSError, ValueError):
            pass
        finally:
            if self._acks is not None:
                self._acks.close()
            self._on_end("the agent closed the control channel")

    def _line(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if isinstance(message, dict) and "execution-id" in message:
            self._acks = AckBoard(wait=True)
            self.commands.put((message, self._acks))
        elif isinstance(message, dict) and "ack" in message and self._acks is not None:
            self._acks.acknowledge(message["ack"])
        else:
            print(f"jsagent.worker: unknown control line {line[:200]!r}", file=sys.stderr,
                  flush=True)


class Quit:
    """Why this worker ends (set once: SIGTERM, the agent gone, the end of stdin), and the
    run to stop when it does."""

    def __init__(self, commands: queue.SimpleQueue):
        self.reason: str | None = None
        self._commands = commands
        self._run: WorkerRun | None = None
        self._lock = threading.Lock()

    def now(self, reason: str) -> None:
        with self._lock:
            if self.reason is None:
                self.reason = reason
            run = self._run
        if run is not None:
            run.request_stop()
        self._commands.put(None)

    def running(self, run: WorkerRun | None) -> None:
        """``run`` runs from now on (None: none); one that begins after a quit stops at once."""
        with self._lock:
            self._run = run
            stop = run is not None and self.reason is not None
        if stop:
            run.request_stop()


def children_left() -> str | None:
    """Child processes still running (orphans this subreaper adopted too); zombies are reaped
    (a run that started a process and did not wait for it may leave one)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return None
        if pid == 0:
            return "the run left child processes running"


def become_subreaper() -> None:
    """Adopt orphaned descendants (Linux), so that a run that left any is seen to have."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class Baseline:
    """What a run may change and the next run must not see: taken before the first run,
    checked and put back after each one."""

    def __init__(self, on_term: Callable[..., Any]):
        self.cwd = os.getcwd()
        self.environ = _environ()
        self.path = list(sys.path)
        self.on_term = on_term

    def restore(self) -> str | None:
        """Put the process back as it was; None, or why this worker must not run again."""
        threads = [t.name for t in threading.enumerate()
                   if not t.daemon and t is not threading.main_thread() and t.is_alive()]
        if threads:
            return f"the run left threads running: {', '.join(sorted(threads))[:200]}"
        left = children_left()
        if left:
            return left
        if sys.path != self.path:
            sys.path[:] = self.path
        if signal.getsignal(signal.SIGTERM) is not self.on_term:
            signal.signal(signal.SIGTERM, self.on_term)
        if _environ() != self.environ:
            os.environ.clear()
            os.environ.update({os.fsdecode(k): os.fsdecode(v) for k, v in self.environ.items()})
            if _environ() != self.environ:
                return "the run changed the environment and it could not be restored"
        try:
            if os.getcwd() != self.cwd:
                os.chdir(self.cwd)
        except OSError as exc:
            return f"the working directory could not be restored: {exc}"
        return None


def _environ() -> dict:
    """``os.environ`` as it is kept (CPython: its encoded ``_data``; else decoded)."""
    data = getattr(os.environ, "_data", None)
    return dict(data) if isinstance(data, dict) else {
        os.fsencode(k): os.fsencode(v) for k, v in os.environ.items()}


def end_of_run(sink: EventSink, execution_id: Any, reason: str | None) -> None:
    """The three end-of-run marks: stdout, stderr, then ``ready`` on the event pipe."""
    for stream in (sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    for fd in (1, 2):
        try:
            os.write(fd, END_OF_RUN)
        except OSError:
            pass
    sink.emit({"ready": execution_id, "reuse": reason is None, "reason": reason})


def serve(stdin: BinaryIO, event_fd: int, agent_pid: int | None = None) -> int:
    """Run the executions whose start commands arrive on ``stdin``, one after another, until
    stdin ends, a SIGTERM comes, the agent is gone or a run cannot be undone; the exit code.
    Call it on the main thread (it sets the SIGTERM handler)."""
    become_subreaper()
    sink = EventSink(event_fd)
    signalled = threading.Event()
    on_term = lambda *_: signalled.set()  # noqa: E731 - no lock may be taken in a handler
    signal.signal(signal.SIGTERM, on_term)
    channel = ControlChannel(stdin, lambda why: quit.now(why))
    quit = Quit(channel.commands)
    alive = agent_watch(agent_pid)
    threading.Thread(target=_watch, args=(quit, signalled, alive), daemon=True,
                     name="jsagent-worker-stop").start()
    channel.start()
    baseline = Baseline(on_term)
    while (item := channel.commands.get()) is not None:  # None: quit (after a queued start)
        command, acks = item
        run = WorkerRun(command, sink, acks)
        quit.running(run)
        try:
            run.run()
        finally:
            quit.running(None)
        reason = quit.reason or baseline.restore()
        end_of_run(sink, run.execution_id, reason)
        if reason is not None:
            break
    logging.shutdown()
    return 0


def _watch(quit: Quit, signalled: threading.Event, alive: Callable[[], bool]) -> None:
    while not signalled.wait(AGENT_CHECK):
        if not alive():
            quit.now("the agent is gone")
            return
    quit.now("stopped (SIGTERM)")
