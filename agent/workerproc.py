"""One pooled worker process as the agent sees it: how it is started, its pipes, its signals.

The worker is forked by the zygote (``jsagent.zygote``) when there is one and it is ready, else
spawned as ``python -m jsagent.worker --pool``; either way it is a session leader running
:func:`jsagent.workerloop.serve`. Its pipes are read by the agent's one
:class:`~jsagent.pipes.PipeWatcher` thread, which reports what happens as the messages below.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Any

import psutil

from jsagent.zygote_client import ForkedChild, ZygoteClient, ZygoteUnavailable
from jsagent.zygote import _close_all

log = logging.getLogger(__name__)
STREAMS = ("events", "stdout", "stderr")


@dataclass(frozen=True)
class ChildEvent:
    """An event line the worker wrote while it ran ``execution_id``."""

    execution_id: int
    event: dict[str, Any]


@dataclass(frozen=True)
class ChildOutput:
    """A line the worker (or a process it started) wrote to stdout or stderr."""

    execution_id: int
    stream: str  # "stdout" or "stderr"
    line: str


@dataclass(frozen=True)
class RunEnded:
    """The worker finished ``execution_id`` and every line of it was read; ``reuse``: it
    waits for the next start command (else it ends by itself, ``reason`` says why)."""

    worker: "PoolWorker"
    execution_id: int
    reuse: bool
    reason: str | None


@dataclass(frozen=True)
class WorkerGone:
    """The worker process ended and its pipes are drained."""

    worker: "PoolWorker"
    returncode: int | None
    error: str | None = None


class Stream:
    """What the pipe watcher knows of one of the worker's output pipes."""

    __slots__ = ("fd", "partial", "ended_run", "open")

    def __init__(self, fd: int):
        self.fd, self.partial, self.ended_run, self.open = fd, b"", None, True


class PoolWorker:
    """A long-lived worker process. The runtime actor sets ``key``, ``execution_id`` and the
    counters; the pipe watcher owns ``streams``; signals may come from any thread."""

    def __init__(self, number: int, proc: subprocess.Popen | ForkedChild, stdin: int,
                 stdout: int, stderr: int, events: int):
        self.number, self.proc, self.pid = number, proc, proc.pid
        self.stdin = stdin
        self.streams = {"events": Stream(events), "stdout": Stream(stdout),
                        "stderr": Stream(stderr)}
        self.key: tuple | None = None  # (classpath, cwd) once it ran an execution
        self.execution_id: int | None = None  # the one it runs now
        self.runs = 0
        self.reuse = 1  # how many executions it may run (the pool sets it)
        self.idle_since = 0.0
        self.retired: str | None = None  # why it must not run again
        self.stopping = False  # SIGTERM sent
        self.killer: Any = None  # the alarm entry that SIGKILLs it after the stop grace
        self.gone = False
        self.exit: tuple[int | None, str | None] | None = None  # (returncode, error)
        self.ready: dict[str, Any] = {}
        self.pending = b""  # stdin bytes not written yet (the pipe was full)
        self.stdin_closing = False
        self.write_lock = threading.Lock()
        self._signal_lock = threading.Lock()
        self._ended = False  # its end was seen: its pid may be another process's by now

    def __repr__(self) -> str:
        return f"<worker {self.number} pid {self.pid}>"

    @property
    def forked(self) -> bool:
        return isinstance(self.proc, ForkedChild)

    def mark_ended(self) -> None:
        with self._signal_lock:
            self._ended = True

    def terminate(self) -> None:
        """SIGTERM to the worker's process group: the running execution stops."""
        with self._signal_lock:
            self.stopping = True
            self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the worker's group and every process it started in a session of its own
        (a shell batchlet's command): nothing of a killed execution keeps running."""
        with self._signal_lock:
            if self._ended:
                return
            try:
                descendants = psutil.Process(self.pid).children(recursive=True)
            except psutil.Error:
                descendants = []
            self._signal(signal.SIGKILL)
        for process in descendants:
            try:
                process.kill()
            except psutil.Error:
                pass

    def kill_group(self) -> None:
        """SIGKILL whatever is left in the worker's process group (after the worker ended)."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _signal(self, signum: int) -> None:  # with self._signal_lock held
        if not self._ended:
            try:
                os.killpg(self.pid, signum)
            except (ProcessLookupError, PermissionError):
                pass


def spawn_worker(number: int, cwd: str | None, zygote: ZygoteClient | None,
                 python: str = sys.executable) -> PoolWorker:
    """Start one pooled worker (forked by ``zygote`` when it can, else spawned); blocks up to
    the zygote's fork timeout, so never call it on the runtime actor's thread."""
    if zygote is not None:
        try:
            return _fork(number, cwd, zygote)
        except ZygoteUnavailable as exc:
            log.debug("worker %d: spawning it (%s)", number, exc)
    return _popen(number, cwd, python)


def _fork(number: int, cwd: str | None, zygote: ZygoteClient) -> PoolWorker:
    """The zygote forks the worker on fresh pipes; ours are the ends a Popen would keep."""
    pipes: list[int] = []
    try:
        for _ in range(4):
            pipes.extend(os.pipe())
    except OSError:
        _close_all(pipes)
        raise
    stdin_r, stdin_w, stdout_r, stdout_w, stderr_r, stderr_w, event_r, event_w = pipes
    try:
        child = zygote.spawn((stdin_r, stdout_w, stderr_w, event_w), cwd=cwd, pool=True)
    except BaseException:  # the zygote closed its ends; ours go too
        _close_all([stdin_w, stdout_r, stderr_r, event_r])
        raise
    return _worker(number, child, stdin_w, stdout_r, stderr_r, event_r)


def _popen(number: int, cwd: str | None, python: str) -> PoolWorker:
    read_fd, write_fd = os.pipe()
    env = dict(os.environ, JSAGENT_EVENT_FD=str(write_fd), PYTHONUNBUFFERED="1")
    try:
        proc = subprocess.Popen(
            [python, "-m", "jsagent.worker", "--pool"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(write_fd,), env=env,
            cwd=cwd, start_new_session=True)
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    fds = [os.dup(stream.fileno()) for stream in (proc.stdin, proc.stdout, proc.stderr)]
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        stream.close()  # the dups are ours; Popen must not close them under the watcher
    proc.stdin = proc.stdout = proc.stderr = None
    return _worker(number, proc, fds[0], fds[1], fds[2], read_fd)


def _worker(number: int, proc: Any, stdin: int, stdout: int, stderr: int,
            events: int) -> PoolWorker:
    for fd in (stdin, stdout, stderr, events):
        os.set_blocking(fd, False)
    return PoolWorker(number, proc, stdin, stdout, stderr, events)

