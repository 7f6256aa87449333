"""The zygote: a fork server that starts worker children without starting a Python interpreter.

``python -m jsagent.zygote`` (started once by the agent: :class:`ZygoteClient`) imports what a
worker needs (``jsagent.worker``, the engine, the built-in batchlets, ``jsbus.jsl``) and then,
for each request on its Unix socket (``SOCK_SEQPACKET``, named by ``JSAGENT_ZYGOTE_FD``), forks
one child per execution. The child becomes a session leader (``os.setsid``: ``killpg(pid)``
reaches it and what it starts), puts the four file descriptors passed with the request
(``SCM_RIGHTS``: stdin, stdout, stderr, the event pipe) on 0, 1, 2 and ``JSAGENT_EVENT_FD``,
resets the signal handlers, closes the zygote's descriptors, changes to the requested directory
and runs :func:`jsagent.worker.run` as ``python -m jsagent.worker`` would; it ends with
``os._exit``. Application code never runs in the zygote: the child puts the classpath on
``sys.path`` after the fork.

Messages are one JSON object per packet. Agent -> zygote: ``{"token": n, "cwd": dir,
"agent": pid}`` with the four descriptors. Zygote -> agent: ``{"ready": pid}`` once, when
everything is imported; ``{"token": n, "pid": pid}`` at once after each fork (or ``{"token": n,
"error": text}``); ``{"exit": pid, "returncode": code}`` when a child ended (``Popen``
semantics: negative for a signal). The zygote stays single-threaded (fork in a multithreaded
process is unsafe): it reaps children with non-blocking ``waitpid`` in its one loop, woken by
SIGCHLD through ``signal.set_wakeup_fd``. At the end of its socket (the agent is gone or closed
it) it exits; its running children go on.
"""
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

log = logging.getLogger(__name__)

ZYGOTE_FD_ENV = "JSAGENT_ZYGOTE_FD"
# What a worker imports, imported once in the zygote: never application modules.
PRELOAD = ("jsagent.worker", "jsagent.capture", "jsagent.events", "jsagent.api",
           "jsagent.engine.job", "jsagent.engine.navigator", "jsagent.engine.step",
           "jsagent.engine.batchlet", "jsagent.engine.chunk", "jsagent.engine.partition",
           "jsagent.engine.listeners", "jsagent.engine.metrics", "jsagent.engine.refs",
           "jsagent.engine.properties", "jsagent.engine.checkpoint", "jsagent.batchlets",
           "jsbus.jsl.codec", "jsbus.jsl.model", "psutil")
MAX_MESSAGE = 65536
SPAWN_TIMEOUT = 5.0  # seconds the agent waits for a fork's pid before it spawns by itself
RESTART_WINDOW = 60.0  # a zygote that dies this soon after a restart is not restarted again


# --- the zygote process ----------------------------------------------------------------------

def preload() -> None:
    """Import everything a worker runs, and parse a job once (warms the codec's caches)."""
    import importlib
    for name in PRELOAD:
        importlib.import_module(name)
    from jsbus.jsl.codec import job_from_document
    job_from_document({"id": "WARM-UP", "steps": [{"id": "S", "batchlet": {"ref": "a.B"}}]})


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.send(json.dumps(message).encode())


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def _child(request: dict[str, Any], fds: list[int], sock: socket.socket,
           wakeup: tuple[int, int]) -> None:
    """In the forked child: become the worker of one execution; never returns."""
    code = 1
    try:
        sock.close()
        signal.set_wakeup_fd(-1)
        _close_all(list(wakeup))
        os.setsid()
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        stdin, stdout, stderr, events = fds
        for source, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
            os.dup2(source, target)
        _close_all([stdin, stdout, stderr])
        os.set_inheritable(events, True)
        os.environ["JSAGENT_EVENT_FD"] = str(events)
        if request.get("cwd"):
            os.chdir(request["cwd"])
        from jsagent import worker
        sys.argv = [worker.__file__]
        agent = request.get("agent")
        code = worker.run(sys.stdin.buffer, events,
                          agent_pid=agent if isinstance(agent, int) else None)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - report, then end this process whatever happened
        import traceback
        try:
            traceback.print_exc()
        except BaseException:  # noqa: BLE001
            pass
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


class Zygote:
    """The zygote's loop: one thread, a poll on the socket and the SIGCHLD wakeup pipe."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.children: set[int] = set()
        self.wakeup = os.pipe()
        for fd in self.wakeup:
            os.set_blocking(fd, False)

    def serve(self) -> None:
        signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the poll via the wakeup fd
        signal.set_wakeup_fd(self.wakeup[1], warn_on_full_buffer=False)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        poller.register(self.wakeup[0], select.POLLIN)
        _send(self.sock, {"ready": os.getpid()})
        while True:
            ready = dict(poller.poll())
            if self.wakeup[0] in ready:
                self._drain_wakeup()
            self._reap()
            if self.sock.fileno() in ready and not self._request():
                return

    def _drain_wakeup(self) -> None:
        try:
            while os.read(self.wakeup[0], 512):
                pass
        except BlockingIOError:
            pass

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            self.children.discard(pid)
            _send(self.sock, {"exit": pid, "returncode": os.waitstatus_to_exitcode(status)})

    def _request(self) -> bool:
        """Serve one request; False at the end of the socket (or on ``quit``)."""
        try:
            data, fds, flags, _ = socket.recv_fds(self.sock, MAX_MESSAGE, 4,
                                                  socket.MSG_CMSG_CLOEXEC)
        except InterruptedError:
            return True
        except OSError:
            return False
        if not data:
            _close_all(fds)
            return False
        try:
            request = json.loads(data)
            if not isinstance(request, dict):
                raise ValueError("not an object")
        except ValueError:
            _close_all(fds)
            print(f"jsagent.zygote: unreadable request {data[:200]!r}", file=sys.stderr)
            return True
        if request.get("quit"):
            _close_all(fds)
            return False
        token = request.get("token")
        if len(fds) != 4 or flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            _close_all(fds)
            _send(self.sock, {"token": token, "error": f"expected 4 descriptors, got {len(fds)}"})
            return True
        self._fork(token, request, fds)
        return True

    def _fork(self, token: Any, request: dict[str, Any], fds: list[int]) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError as exc:
            _close_all(fds)
            _send(self.sock, {"token": token, "error": f"fork failed: {exc}"})
            return
        if pid == 0:
            _child(request, fds, self.sock, self.wakeup)  # never returns
        _close_all(fds)
        self.children.add(pid)
        _send(self.sock, {"token": token, "pid": pid})


def main() -> None:
    """Entry point of ``python -m jsagent.zygote``."""
    try:
        sock = socket.socket(fileno=int(os.environ.pop(ZYGOTE_FD_ENV)))
    except (KeyError, ValueError, OSError) as exc:
        print(f"jsagent.zygote: no socket: {exc!r}", file=sys.stderr, flush=True)
        sys.exit(2)
    preload()
    if threading.active_count() != 1:  # forking a multithreaded process is not safe
        print(f"jsagent.zygote: {threading.active_count()} threads after the imports; "
              "refusing to fork", file=sys.stderr, flush=True)
        sys.exit(3)
    import gc
    gc.collect()
    gc.freeze()  # the imported objects stay shared with the children (no copy on collect)
    try:
        Zygote(sock).serve()
    except OSError:  # the agent is gone
        pass
    sys.exit(0)


# --- the agent's side ------------------------------------------------------------------------

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

    def exited(self, returncode: int) -> None:
        self.returncode = returncode
        self._exited.set()
        self._settled.set()

    def orphan(self) -> None:
        """The zygote died: nobody will report this child's exit."""
        self._settled.set()

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
              timeout: float = SPAWN_TIMEOUT) -> ForkedChild:
        """Fork a worker on ``fds`` (its stdin, stdout, stderr and event pipe ends), which
        this closes (they are the zygote's once sent). Raises ZygoteUnavailable."""
        try:
            with self._lock:
                generation = self._current
                if generation is None or generation.dead or not generation.ready.is_set():
                    raise ZygoteUnavailable("the zygote is not ready")
                token = next(self._tokens)
                slot = [threading.Event(), None, None]
                generation.pending[token] = slot  # before the request: the answer may be quick
            request = json.dumps({"token": token, "cwd": cwd, "agent": os.getpid()}).encode()
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


if __name__ == "__main__":
    main()
