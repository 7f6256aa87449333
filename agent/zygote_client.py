"""The agent's side of the zygote (``jsagent.zygote``): starts it, asks it to fork workers,
follows their exits, and restarts a zygote that died (once within ``RESTART_WINDOW``)."""
from __future__ import annotations

import itertools
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from jsagent.zygote import (MAX_MESSAGE, RESTART_WINDOW, SPAWN_TIMEOUT, ZYGOTE_FD_ENV,
                            _close_all)

log = logging.getLogger(__name__)

class ZygoteUnavailable(Exception):
    """The zygote cannot fork this one (not started, not ready, dead, no answer)."""


class ForkedChild:
    """A worker the zygote forked: its pid, and its exit status as the zygote reports it.

    ``stdin``, ``stdout`` and ``stderr`` are the agent's ends of the child's pipes (set by the
    caller), as on a ``Popen``. When the zygote dies first, the end of the child is seen through
    a pidfd and its exit status is unknown (``returncode`` None, ``error`` says why).
    """

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None
        self.error: str | None = None
        self.stdin = self.stdout = self.stderr = None
        self._exited = threading.Event()
        self._settled = threading.Event()  # exited, or nobody will tell (orphaned)
        self._lock = threading.Lock()
        self._on_settled: list = []

    @property
    def orphaned(self) -> bool:
        """The zygote died before it reported this child's exit."""
        return self._settled.is_set() and not self._exited.is_set()

    def when_settled(self, callback) -> None:
        """Call ``callback()`` once the exit is reported or the zygote died (at once when that
        happened already; else on the zygote reader's thread): it must be quick."""
        with self._lock:
            if not self._settled.is_set():
                self._on_settled.append(callback)
                return
        callback()

    def exited(self, returncode: int) -> None:
        self.returncode = returncode
        self._exited.set()
        self._settle()

    def orphan(self) -> None:
        """The zygote died: nobody will report this child's exit."""
        self._settle()

    def _settle(self) -> None:
        with self._lock:
            self._settled.set()
            callbacks, self._on_settled = self._on_settled, []
        for callback in callbacks:
            callback()

    def wait(self) -> int | None:
        self._settled.wait()
        if not self._exited.is_set():
            self._wait_unreported()
        return self.returncode

    def _wait_unreported(self) -> None:
        try:
            pidfd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            pidfd = None  # already gone
        except (AttributeError, OSError):
            while _pid_running(self.pid):
                time.sleep(0.2)
            pidfd = None
        if pidfd is not None:
            try:
                select.select([pidfd], [], [])
            finally:
                os.close(pidfd)
        self.error = "the worker ended after its zygote died: its exit status is unknown"
        self._exited.set()


def _pid_running(pid: int) -> bool:
    import psutil
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class _Generation:
    """One zygote process and what is in flight with it."""

    def __init__(self, process: subprocess.Popen, sock: socket.socket):
        self.process, self.sock = process, sock
        self.ready = threading.Event()
        self.send_lock = threading.Lock()
        self.dead = False
        self.started = time.monotonic()
        self.pending: dict[int, list] = {}  # token -> [Event, ForkedChild | None, error]
        self.children: dict[int, ForkedChild] = {}


class ZygoteClient:
    """The agent's handle on its zygote: starts it, asks it to fork workers, follows it.

    A zygote that dies is restarted (logged); one that dies again within ``RESTART_WINDOW``
    seconds of its restart is not: workers are then spawned as fresh processes.
    """

    def __init__(self, cwd: str | None = None, python: str = sys.executable):
        self._cwd, self._python = cwd, python
        self._lock = threading.Lock()
        self._tokens = itertools.count(1)
        self._current: _Generation | None = None
        self._restarted_at: float | None = None
        self._closing = False

    def start(self) -> "ZygoteClient":
        """Launch the zygote; returns at once (it is ready once its imports are done)."""
        with self._lock:
            self._current = self._launch()
        return self

    def _launch(self) -> _Generation:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = dict(os.environ, PYTHONUNBUFFERED="1", **{ZYGOTE_FD_ENV: str(theirs.fileno())})
        try:
            process = subprocess.Popen([self._python, "-m", "jsagent.zygote"],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       pass_fds=(theirs.fileno(),), env=env, cwd=self._cwd,
                                       start_new_session=True)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        generation = _Generation(process, ours)
        threading.Thread(target=self._read, args=(generation,), daemon=True,
                         name=f"jsagent-zygote-{process.pid}").start()
        return generation

    @property
    def pid(self) -> int | None:
        generation = self._current
        return None if generation is None else generation.process.pid

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the zygote can fork (False after ``timeout`` or if it is gone)."""
        deadline = time.monotonic() + timeout
        while True:
            generation = self._current
            if generation is None:
                return False
            if generation.ready.wait(min(0.1, max(0.0, deadline - time.monotonic()))):
                return not generation.dead
            if time.monotonic() >= deadline:
                return False

    def spawn(self, fds: tuple[int, int, int, int], cwd: str | None = None,
              timeout: float = SPAWN_TIMEOUT, pool: bool = False) -> ForkedChild:
        """Fork a worker on ``fds`` (its stdin, stdout, stderr and event pipe ends), which
        this closes (they are the zygote's once sent); ``pool``: a pooled worker
        (``jsagent.workerloop``). Raises ZygoteUnavailable."""
        try:
            with self._lock:
                generation = self._current
                if generation is None or generation.dead or not generation.ready.is_set():
                    raise ZygoteUnavailable("the zygote is not ready")
                token = next(self._tokens)
                slot = [threading.Event(), None, None]
                generation.pending[token] = slot  # before the request: the answer may be quick
            request = json.dumps({"token": token, "cwd": cwd, "agent": os.getpid(),
                                  "pool": pool}).encode()
            # Not under self._lock: a send may wait for the zygote, which may wait for the
            # reader thread, which takes self._lock.
            try:
                with generation.send_lock:
                    socket.send_fds(generation.sock, [request], list(fds))
            except OSError as exc:
                with self._lock:
                    generation.pending.pop(token, None)
                raise ZygoteUnavailable(f"the zygote did not take the request: {exc}") from exc
        finally:
            _close_all(list(fds))
        if not slot[0].wait(timeout):
            with self._lock:
                generation.pending.pop(token, None)
            raise ZygoteUnavailable(f"the zygote did not fork within {timeout} s")
        if slot[1] is None:
            raise ZygoteUnavailable(slot[2] or "the zygote died")
        return slot[1]

    def _read(self, generation: _Generation) -> None:
        """The zygote's messages, in order, until the end of its socket."""
        try:
            while True:
                try:
                    data = generation.sock.recv(MAX_MESSAGE)
                except OSError:
                    data = b""
                if not data:
                    break
                try:
                    self._on_message(generation, json.loads(data))
                except Exception:  # noqa: BLE001 - one bad message must not stop the reader
                    log.exception("bad message from the zygote: %r", data[:200])
        finally:
            self._died(generation)

    def _on_message(self, generation: _Generation, message: dict[str, Any]) -> None:
        if "ready" in message:
            log.debug("the zygote (pid %s) is ready", message["ready"])
            generation.ready.set()
        elif "exit" in message:
            with self._lock:
                child = generation.children.pop(message["exit"], None)
            if child is not None:
                child.exited(message["returncode"])
        elif "token" in message:
            child = ForkedChild(message["pid"]) if "pid" in message else None
            with self._lock:
                slot = generation.pending.pop(message["token"], None)
                if child is not None and slot is not None:
                    generation.children[child.pid] = child
            if slot is None:  # the agent gave up waiting: nobody reads this child's pipes
                if child is not None:
                    log.warning("the zygote forked pid %d too late; killing it", child.pid)
                    _killpg(child.pid)
                return
            slot[1], slot[2] = child, message.get("error")
            slot[0].set()

    def _died(self, generation: _Generation) -> None:
        with self._lock:
            generation.dead = True
            generation.ready.set()
            pending, generation.pending = generation.pending, {}
            children, generation.children = generation.children, {}
            restart = self._current is generation and not self._closing
        for slot in pending.values():
            slot[2] = "the zygote died"
            slot[0].set()
        for child in children.values():
            child.orphan()
        with generation.send_lock:  # a send in progress fails at once: the peer is gone
            generation.sock.close()
        try:
            code = generation.process.wait(5)
        except subprocess.TimeoutExpired:
            generation.process.kill()
            code = generation.process.wait()
        if restart:
            self._restart(generation, code)

    def _restart(self, generation: _Generation, code: int | None) -> None:
        now = time.monotonic()
        with self._lock:
            if self._closing or self._current is not generation:
                return
            self._current = None
            if self._restarted_at is not None and now - self._restarted_at < RESTART_WINDOW:
                log.error("the zygote (pid %d) died again (exit code %s) %.0f s after its "
                          "restart; workers start as fresh processes from now on",
                          generation.process.pid, code, now - self._restarted_at)
                return
            self._restarted_at = now
        log.error("the zygote (pid %d) died (exit code %s); restarting it",
                  generation.process.pid, code)
        try:
            replacement = self._launch()
        except OSError as exc:
            log.error("the zygote could not be restarted: %s", exc)
            return
        with self._lock:
            if not self._closing:
                self._current = replacement
                return
        replacement.sock.close()  # the agent closed the client meanwhile: the zygote ends

    def close(self, timeout: float = 5.0) -> None:
        """Stop the zygote (its running children go on; their ends are still seen)."""
        with self._lock:
            self._closing = True
            generation, self._current = self._current, None
        if generation is None:
            return
        try:
            generation.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            generation.process.wait(timeout)
        except subprocess.TimeoutExpired:
            generation.process.kill()
            generation.process.wait(timeout)


def _killpg(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
