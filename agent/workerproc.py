"""One worker child process, watched from plain threads (never from an actor).

The threads report what happens through ``notify`` (the runtime actor's ``tell``):
``ChildEvent`` for each event line, ``ChildOutput`` for each stdout/stderr line, and one
``ChildExited`` after the child ended and its pipes are drained.

The child is forked by the zygote (``jsagent.zygote``) when there is one and it is ready, else
spawned as ``python -m jsagent.worker``; either way it is a session leader with the same pipes.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable

import psutil

from jsagent.zygote_client import ForkedChild, ZygoteClient, ZygoteUnavailable

log = logging.getLogger(__name__)
DRAIN_TIMEOUT = 2.0  # after exit, how long a grandchild may keep the output pipes open


@dataclass(frozen=True)
class ChildEvent:
    execution_id: int
    event: dict[str, Any]


@dataclass(frozen=True)
class ChildOutput:
    execution_id: int
    stream: str  # "stdout" or "stderr"
    line: str


@dataclass(frozen=True)
class ChildExited:
    execution_id: int
    returncode: int | None
    error: str | None = None  # set when the child could not be started


class WorkerProcess:
    """Starts the worker of one execution (forked by ``zygote`` when it can, else
    ``python -m jsagent.worker``) and watches it."""

    def __init__(self, execution_id: int, command: bytes, notify: Callable[[object], None],
                 cwd: str | None = None, python: str = sys.executable,
                 zygote: ZygoteClient | None = None):
        self.execution_id = execution_id
        self._command, self._notify, self._cwd, self._python = command, notify, cwd, python
        self._zygote = zygote
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | ForkedChild | None = None
        self._ended = False  # the child's end was seen (its pid may be another's by now)
        self._stop_grace: float | None = None
        self._killer: threading.Timer | None = None

    def start(self) -> None:
        """Spawn and watch the child on a thread of its own; returns at once."""
        threading.Thread(target=self._run, name=f"jsagent-exec-{self.execution_id}",
                         daemon=True).start()

    def send(self, message: dict[str, Any]) -> bool:
        """Write one control line to the child's stdin (docs/protocol.md); False if it is gone."""
        line = (json.dumps(message) + "\n").encode()
        with self._lock:
            if self._proc is None or self._proc.stdin is None or self._proc.stdin.closed:
                return False
            try:
                self._proc.stdin.write(line)
                self._proc.stdin.flush()
                return True
            except (OSError, ValueError):  # the child exited; its exit is reported apart
                return False

    def stop(self, grace: float) -> None:
        """SIGTERM to the child's process group now, SIGKILL after ``grace`` seconds."""
        with self._lock:
            if self._stop_grace is not None:
                return
            self._stop_grace = grace
            if self._proc is not None:
                self._terminate()

    def _terminate(self) -> None:  # with self._lock held, self._proc set
        self._signal(signal.SIGTERM)
        self._killer = threading.Timer(self._stop_grace, self._kill)
        self._killer.daemon = True
        self._killer.start()

    def _kill(self) -> None:
        """SIGKILL the worker's group and every process it started in a session of its own
        (a shell batchlet's command): nothing of a killed execution keeps running."""
        with self._lock:
            descendants = self._descendants()
            self._signal(signal.SIGKILL)
        for process in descendants:
            try:
                process.kill()
            except psutil.Error:
                pass

    def _running(self) -> bool:  # with self._lock held
        return self._proc is not None and not self._ended and self._proc.returncode is None

    def _descendants(self) -> list:  # with self._lock held
        if not self._running():
            return []
        try:
            return psutil.Process(self._proc.pid).children(recursive=True)
        except psutil.Error:
            return []

    def _signal(self, signum: int) -> None:  # with self._lock held
        if self._running():
            try:
                os.killpg(self._proc.pid, signum)
            except ProcessLookupError:
                pass

    def _spawn(self) -> tuple[subprocess.Popen | ForkedChild, int]:
        if self._zygote is not None:
            try:
                return self._fork()
            except ZygoteUnavailable as exc:
                log.debug("execution %d: spawning the worker (%s)", self.execution_id, exc)
        return self._popen()

    def _fork(self) -> tuple[ForkedChild, int]:
        """The zygote forks the worker on fresh pipes; ours are the ends a Popen would keep."""
        pipes: list[int] = []
        try:
            for _ in range(4):
                pipes.extend(os.pipe())
        except OSError:
            _close(pipes)
            raise
        stdin_r, stdin_w, stdout_r, stdout_w, stderr_r, stderr_w, event_r, event_w = pipes
        try:
            child = self._zygote.spawn((stdin_r, stdout_w, stderr_w, event_w), cwd=self._cwd)
        except BaseException:  # the zygote closed its ends; ours go too
            _close([stdin_w, stdout_r, stderr_r, event_r])
            raise
        child.stdin = os.fdopen(stdin_w, "wb")
        child.stdout = os.fdopen(stdout_r, "rb")
        child.stderr = os.fdopen(stderr_r, "rb")
        return child, event_r

    def _popen(self) -> tuple[subprocess.Popen, int]:
        read_fd, write_fd = os.pipe()
        env = dict(os.environ, JSAGENT_EVENT_FD=str(write_fd), PYTHONUNBUFFERED="1")
        try:
            proc = subprocess.Popen(
                [self._python, "-m", "jsagent.worker"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(write_fd,), env=env,
                cwd=self._cwd, start_new_session=True)
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        return proc, read_fd

    def _run(self) -> None:
        try:
            proc, read_fd = self._spawn()
        except OSError as exc:
            self._notify(ChildExited(self.execution_id, None, f"worker could not start: {exc}"))
            return
        with self._lock:
            self._proc = proc
            if self._stop_grace is not None:
                self._terminate()
        readers = [self._reader(os.fdopen(read_fd, "rb"), self._on_event_line),
                   self._reader(proc.stdout, lambda line: self._on_output("stdout", line)),
                   self._reader(proc.stderr, lambda line: self._on_output("stderr", line))]
        self._feed_stdin(proc)
        returncode = proc.wait()
        with self._lock:
            self._ended = True
            if self._killer is not None:
                self._killer.cancel()
            self._close_stdin(proc)
        self._drain(readers, proc.pid)
        self._notify(ChildExited(self.execution_id, returncode, getattr(proc, "error", None)))

    def _feed_stdin(self, proc: subprocess.Popen | ForkedChild) -> None:
        """The start command as one line; stdin then stays open for control lines."""
        with self._lock:
            try:
                proc.stdin.write(self._command.rstrip(b"\n") + b"\n")
                proc.stdin.flush()
            except OSError:  # the child died before reading its command: its exit code tells
                pass

    @staticmethod
    def _close_stdin(proc: subprocess.Popen | ForkedChild) -> None:  # with self._lock held
        try:
            proc.stdin.close()
        except OSError:
            pass

    def _drain(self, readers: list[threading.Thread], pgid: int) -> None:
        for reader in readers:
            reader.join(DRAIN_TIMEOUT)
        if any(reader.is_alive() for reader in readers):
            log.warning("execution %d: processes left behind by the worker hold its pipes; "
                        "killing its process group", self.execution_id)
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            for reader in readers:
                reader.join(DRAIN_TIMEOUT)

    def _reader(self, stream: BinaryIO, on_line: Callable[[bytes], None]) -> threading.Thread:
        def read() -> None:
            with stream:
                for line in stream:
                    on_line(line)
        thread = threading.Thread(target=read, daemon=True,
                                  name=f"jsagent-exec-{self.execution_id}-pipe")
        thread.start()
        return thread

    def _on_event_line(self, line: bytes) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            self._on_output("stderr", line)
            return
        if isinstance(event, dict):
            self._notify(ChildEvent(self.execution_id, event))

    def _on_output(self, stream: str, line: bytes) -> None:
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        self._notify(ChildOutput(self.execution_id, stream, text))


def _close(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
