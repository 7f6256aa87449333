"""The zygote: a fork server that starts worker children without starting a Python interpreter.

``python -m jsagent.zygote`` (started once by the agent: :class:`ZygoteClient`) imports what a
worker needs (``jsagent.worker``, the engine, the built-in batchlets, ``jsbus.jsl``) and then,
for each request on its Unix socket (``SOCK_SEQPACKET``, named by ``JSAGENT_ZYGOTE_FD``), forks
one worker child (a pooled worker of the agent, or a one-off worker). The child becomes a
session leader (``os.setsid``: ``killpg(pid)`` reaches it and what it starts), puts the four
file descriptors passed with the request (``SCM_RIGHTS``: stdin, stdout, stderr, the event pipe)
on 0, 1, 2 and ``JSAGENT_EVENT_FD``, resets the signal handlers, closes the zygote's
descriptors, changes to the requested directory and runs :func:`jsagent.workerloop.serve` (or
:func:`jsagent.worker.run`) as ``python -m jsagent.worker [--pool]`` would; it ends with
``os._exit``. Application code never runs in the zygote: the child puts the classpath on
``sys.path`` after the fork.

Messages are one JSON object per packet. Agent -> zygote: ``{"token": n, "cwd": dir,
"agent": pid, "pool": bool}`` with the four descriptors (``pool``: a pooled worker, which runs
executions one after another). Zygote -> agent: ``{"ready": pid}`` once, when
everything is imported; ``{"token": n, "pid": pid}`` at once after each fork (or ``{"token": n,
"error": text}``); ``{"exit": pid, "returncode": code}`` when a child ended (``Popen``
semantics: negative for a signal). The zygote stays single-threaded (fork in a multithreaded
process is unsafe): it reaps children with non-blocking ``waitpid`` in its one loop, woken by
SIGCHLD through ``signal.set_wakeup_fd``. At the end of its socket (the agent is gone or closed
it) it exits; its running children go on.
"""
from __future__ import annotations

import json
import logging
import os
import select
import signal
import socket
import sys
import threading
from typing import Any

log = logging.getLogger(__name__)

ZYGOTE_FD_ENV = "JSAGENT_ZYGOTE_FD"
# What a worker imports, imported once in the zygote: never application modules.
PRELOAD = ("jsagent.worker", "jsagent.workerloop", "jsagent.capture", "jsagent.events",
           "jsagent.api", "jsagent.engine.job", "jsagent.engine.navigator", "jsagent.engine.step",
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
        from jsagent import worker, workerloop
        sys.argv = [worker.__file__]
        agent = request.get("agent")
        agent_pid = agent if isinstance(agent, int) else None
        if request.get("pool"):
            code = workerloop.serve(sys.stdin.buffer, events, agent_pid=agent_pid)
        else:
            code = worker.run(sys.stdin.buffer, events, agent_pid=agent_pid)
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


if __name__ == "__main__":
    main()
