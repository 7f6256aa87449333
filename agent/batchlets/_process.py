"""A command run in a process group of its own, its output logged line by line.

Shared by the ``shell`` and ``java-main`` batchlets (:class:`SubprocessBatchlet`).
"""
from __future__ import annotations

import codecs
import logging
import os
import signal
import subprocess
import threading
import time
from typing import IO, Any, Sequence

import psutil

from jsagent.api import Batchlet
from jsagent.batchlets import _props

DEFAULT_KILL_GRACE = 5.0
READER_GRACE = 5.0
KILL_SETTLE = 2.0
POLL_INTERVAL = 0.05


class CommandTimeout(TimeoutError):
    """The command ran longer than its ``timeout`` property: the step fails."""


class CommandFailed(RuntimeError):
    """The command exited non-zero and ``fail_on_error`` is true: the step fails."""


def exit_code_of(returncode: int) -> int:
    """The process's exit code; death by signal N counts as 128 + N, as in a shell (and as
    Java's ``Process.exitValue()`` reports it)."""
    return 128 - returncode if returncode < 0 else returncode


def _signal_group(pgid: int, signum: int) -> bool:
    """Send ``signum`` to the process group; False when the group no longer exists."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:  # the id was reused by someone else's group: ours is gone
        return False
    return True


def group_alive(pgid: int) -> bool:
    """Whether a live process (not a zombie waiting for its reaper) is in the process group."""
    if not _signal_group(pgid, 0):
        return False
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return False


class GroupProcess:
    """Runs one command in a new session (so a new process group) and waits for it.

    Standard output lines are logged at INFO and standard error lines at WARNING on
    ``logger`` as they come (one reader thread each). :meth:`request_stop` (any thread) makes
    :meth:`run` terminate the group and return None.
    """

    def __init__(self, logger: logging.Logger, label: str, kill_grace: float = DEFAULT_KILL_GRACE,
                 encoding: str = "utf-8"):
        self.logger = logger
        self.label = label
        self.kill_grace = kill_grace
        self.encoding = encoding
        self._cond = threading.Condition()
        self._stop_requested = False
        self._exited = False
        self._proc: subprocess.Popen | None = None

    @property
    def stop_requested(self) -> bool:
        with self._cond:
            return self._stop_requested

    @property
    def pid(self) -> int | None:
        """The leader's pid (also the process group id) once started."""
        with self._cond:
            return None if self._proc is None else self._proc.pid

    def request_stop(self) -> None:
        with self._cond:
            self._stop_requested = True
            self._cond.notify_all()

    def run(self, argv: Sequence[str], *, env: dict[str, str] | None = None,
            cwd: str | None = None, timeout: float | None = None) -> int | None:
        """The command's exit code; None when a stop terminated it.

        Raises :class:`CommandTimeout` after terminating the group when ``timeout`` passes.
        Processes the command leaves in its group when it exits are terminated too.
        """
        with self._cond:
            if self._stop_requested:
                return None
            self.logger.debug("%s: running %s", self.label, list(argv))
            proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=env, cwd=cwd,
                                    start_new_session=True)
            self._proc = proc
        readers = [self._thread("out", self._pump, proc.stdout, logging.INFO),
                   self._thread("err", self._pump, proc.stderr, logging.WARNING)]
        self._thread("wait", self._reap, proc)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            try:
                with self._cond:
                    while not (self._exited or self._stop_requested):
                        remaining = None if deadline is None else deadline - time.monotonic()
                        if remaining is not None and remaining <= 0:
                            break
                        self._cond.wait(remaining)
                    exited, stopped = self._exited, self._stop_requested
            except BaseException:  # KeyboardInterrupt and the like: leave nothing behind
                self._terminate_group(proc.pid)
                raise
            if not exited:
                why = "stop requested" if stopped else f"timed out after {timeout:g} s"
                self.logger.warning("%s: %s; terminating process group %d", self.label, why,
                                    proc.pid)
                self._terminate_group(proc.pid)
                if stopped:
                    return None
                raise CommandTimeout(f"{self.label}: command timed out after {timeout:g} s "
                                     f"(process group {proc.pid} terminated)")
            if group_alive(proc.pid):
                self.logger.warning("%s: the command exited, leaving processes in its group; "
                                    "terminating them", self.label)
                self._terminate_group(proc.pid)
            return exit_code_of(proc.returncode)
        finally:
            for reader in readers:
                reader.join(READER_GRACE)
                if reader.is_alive():
                    self.logger.warning("%s: output still open after the process group ended; "
                                        "no longer reading it", self.label)

    def _terminate_group(self, pgid: int) -> None:
        """SIGTERM to the group; SIGKILL if anything is left after the grace period."""
        if not _signal_group(pgid, signal.SIGTERM):
            return
        deadline = time.monotonic() + self.kill_grace
        while time.monotonic() < deadline:
            with self._cond:
                exited = self._exited
            if exited and not group_alive(pgid):
                return
            with self._cond:
                self._cond.wait(POLL_INTERVAL)
        if _signal_group(pgid, signal.SIGKILL):
            self.logger.warning("%s: process group %d killed (still running %g s after SIGTERM)",
                                self.label, pgid, self.kill_grace)
        with self._cond:
            self._cond.wait_for(lambda: self._exited)
        deadline = time.monotonic() + KILL_SETTLE
        while group_alive(pgid) and time.monotonic() < deadline:  # SIGKILL is not instant
            with self._cond:
                self._cond.wait(POLL_INTERVAL)

    def _reap(self, proc: subprocess.Popen) -> None:
        proc.wait()
        with self._cond:
            self._exited = True
            self._cond.notify_all()

    def _pump(self, stream: IO[bytes], level: int) -> None:
        with stream:
            for raw in iter(stream.readline, b""):
                line = raw.decode(self.encoding, "replace").rstrip("\r\n")
                self.logger.log(level, "%s", line)

    def _thread(self, suffix: str, target: Any, *args: Any) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, daemon=True,
                                  name=f"jsagent-{self.label}-{suffix}")
        thread.start()
        return thread


class SubprocessBatchlet(Batchlet):
    """Base of the batchlets that run a command (``shell``, ``java-main``).

    Common properties: ``env``, ``cwd``, ``timeout``, ``kill_grace``, ``fail_on_error``,
    ``encoding`` (see the subclasses' docstrings).
    """

    label = "command"
    logger = logging.getLogger(__name__)

    env: str | None = None
    cwd: str | None = None
    timeout: str | None = None
    kill_grace: str | None = None
    fail_on_error: str | None = None
    encoding: str | None = None

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = False
        self._runner: GroupProcess | None = None

    def build_argv(self, env: dict[str, str]) -> list[str]:
        """The command line to run; ``env`` is its environment."""
        raise NotImplementedError

    def process(self) -> str:
        env = _props.as_env(_props.text(self, "env"), f"{self.label}: property 'env'",
                            dict(os.environ))
        argv = self.build_argv(env)
        timeout = _props.as_seconds(_props.text(self, "timeout"),
                                    f"{self.label}: property 'timeout'")
        grace = _props.as_seconds(_props.text(self, "kill_grace"),
                                  f"{self.label}: property 'kill_grace'")
        fail_on_error = _props.as_bool(_props.text(self, "fail_on_error"),
                                       f"{self.label}: property 'fail_on_error'")
        encoding = _props.text(self, "encoding") or "utf-8"
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ValueError(f"{self.label}: property 'encoding': unknown encoding "
                             f"{encoding!r}") from None
        cwd = _props.text(self, "cwd")
        runner = GroupProcess(self.logger, self.label,
                              DEFAULT_KILL_GRACE if grace is None else grace, encoding)
        with self._lock:
            self._runner = runner
            if self._stopping:
                return "STOPPED"
        code = runner.run(argv, env=env, cwd=cwd, timeout=timeout)
        if code is None:
            return "STOPPED"
        if code != 0 and fail_on_error:
            raise CommandFailed(f"{self.label}: command exited with {code}: {argv[0]}")
        return str(code)

    def stop(self) -> None:
        """Terminate the command's process group (SIGTERM, SIGKILL after ``kill_grace``)."""
        with self._lock:
            self._stopping = True
            runner = self._runner
        if runner is not None:
            runner.request_stop()
