"""One thread reads the pipes of every pooled worker, writes their stdin, and sees them end.

The watcher splits what workers write into lines and turns them into messages for the runtime
actor (:mod:`jsagent.workerproc`): ``ChildEvent`` and ``ChildOutput`` for the execution the
worker runs now, ``RunEnded`` once the worker's three end-of-run marks were read (the END_OF_RUN
line on stdout and on stderr, ``ready`` on the event pipe: every line before them belongs to the
run that ended), ``WorkerGone`` once a worker ended and its pipes are drained. The messages of
one round of ``select`` are delivered together (``deliver(list)``, the actor's ``tell``), and the
watcher lingers ``linger`` seconds after a round that delivered anything so that bursts travel in
few messages. It never blocks on a worker: stdin is non-blocking, the rest is written when the
pipe has room.
"""
from __future__ import annotations

import heapq
import itertools
import json
import logging
import os
import selectors
import subprocess
import threading
import time
from collections import deque
from typing import Any, Callable

from jsagent.workerloop import END_OF_RUN
from jsagent.workerproc import (STREAMS, ChildEvent, ChildOutput, PoolWorker, RunEnded,
                                WorkerGone)

log = logging.getLogger(__name__)
DRAIN_TIMEOUT = 2.0  # after exit, how long a grandchild may keep the output pipes open
LINGER = 0.005
MAX_LINE = 1 << 20  # a longer line without a newline is cut
MARK = END_OF_RUN.rstrip(b"\n")
UNKNOWN_EXIT = "the worker ended after its zygote died: its exit status is unknown"


class PipeWatcher:
    """Owns the pipes of the pooled workers: call :meth:`add`, :meth:`send` and
    :meth:`close_stdin` from any thread."""

    def __init__(self, deliver: Callable[[list], None], linger: float = LINGER):
        self._deliver, self._linger = deliver, linger
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        for fd in (self._wake_r, self._wake_w):
            os.set_blocking(fd, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._calls: deque[Callable[[], None]] = deque()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._out: list = []
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="jsagent-pipes", daemon=True)

    def start(self) -> "PipeWatcher":
        self._thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        self._closed = True
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def call_soon(self, call: Callable[[], None]) -> None:
        """Run ``call`` on the watcher's thread."""
        self._calls.append(call)
        self._wake()

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"!")
        except (BlockingIOError, OSError):
            pass  # full: it wakes anyway

    def add(self, worker: PoolWorker) -> None:
        """Watch a new worker's pipes and its end."""
        self.call_soon(lambda: self._add(worker))

    def send(self, worker: PoolWorker, data: bytes) -> bool:
        """Write ``data`` to the worker's stdin, now or (pipe full) when it has room; False
        when the worker's stdin is closed."""
        with worker.write_lock:
            if worker.stdin_closing or worker.stdin < 0:
                return False
            if worker.pending:
                worker.pending += data
                return True
            try:
                written = os.write(worker.stdin, data)
            except BlockingIOError:
                written = 0
            except OSError:  # it ended; WorkerGone follows
                return False
            if written < len(data):
                worker.pending = data[written:]
                self.call_soon(lambda: self._want_room(worker))
            return True

    def close_stdin(self, worker: PoolWorker) -> None:
        """End the worker's stdin once what was sent is written (it then ends by itself)."""
        with worker.write_lock:
            worker.stdin_closing = True
            if worker.pending:
                return
            self._close_stdin(worker)

    @staticmethod
    def _close_stdin(worker: PoolWorker) -> None:  # with worker.write_lock held
        if worker.stdin >= 0:
            os.close(worker.stdin)
            worker.stdin = -1

    # --- on the watcher's thread -----------------------------------------------------------

    def _add(self, worker: PoolWorker) -> None:
        for name in STREAMS:
            self._selector.register(worker.streams[name].fd, selectors.EVENT_READ,
                                    (worker, name))
        if worker.forked:
            worker.proc.when_settled(lambda: self.call_soon(lambda: self._settled(worker)))
        else:
            self._watch_pid(worker)

    def _want_room(self, worker: PoolWorker) -> None:
        with worker.write_lock:
            if worker.pending and worker.stdin >= 0:
                self._selector.register(worker.stdin, selectors.EVENT_WRITE, (worker, "stdin"))

    def _room(self, worker: PoolWorker) -> None:
        with worker.write_lock:
            try:
                written = os.write(worker.stdin, worker.pending)
            except BlockingIOError:
                return
            except OSError:
                written = len(worker.pending)
            worker.pending = worker.pending[written:]
            if worker.pending:
                return
            self._selector.unregister(worker.stdin)
            if worker.stdin_closing:
                self._close_stdin(worker)

    def _watch_pid(self, worker: PoolWorker) -> None:
        """See the end of a worker we spawned (or one whose zygote died) through a pidfd."""
        try:
            pidfd = os.pidfd_open(worker.pid)
        except ProcessLookupError:
            self._exited(worker)
            return
        except (AttributeError, OSError):  # no pidfd here: one waiting thread per worker
            threading.Thread(target=self._wait_thread, args=(worker,), daemon=True,
                             name=f"jsagent-wait-{worker.pid}").start()
            return
        self._selector.register(pidfd, selectors.EVENT_READ, (worker, "exit"))

    def _wait_thread(self, worker: PoolWorker) -> None:
        worker.proc.wait()  # a Popen, or an orphaned ForkedChild (it waits for the pid to go)
        self.call_soon(lambda: self._exited(worker))

    def _settled(self, worker: PoolWorker) -> None:
        if worker.proc.orphaned:
            self._watch_pid(worker)
        else:
            self._exited(worker)

    def _exited(self, worker: PoolWorker) -> None:
        if worker.exit is not None:
            return
        worker.mark_ended()
        if isinstance(worker.proc, subprocess.Popen):
            worker.exit = (worker.proc.poll(), None)
        elif worker.proc.orphaned:
            worker.exit = (None, UNKNOWN_EXIT)
        else:
            worker.exit = (worker.proc.returncode, None)
        with worker.write_lock:
            if worker.pending and worker.stdin >= 0:
                self._selector.unregister(worker.stdin)
            worker.pending = b""
            worker.stdin_closing = True
            self._close_stdin(worker)
        if self._finished(worker):
            return
        self._after(DRAIN_TIMEOUT, lambda: self._overdue(worker, first=True))

    def _overdue(self, worker: PoolWorker, first: bool) -> None:
        if worker.gone:
            return
        if first:
            log.warning("%r: processes left behind by the worker hold its pipes; killing its "
                        "process group", worker)
            worker.kill_group()
            self._after(DRAIN_TIMEOUT, lambda: self._overdue(worker, first=False))
            return
        for name in STREAMS:
            if worker.streams[name].open:
                self._end_of(worker, name)

    def _finished(self, worker: PoolWorker) -> bool:
        if worker.gone or worker.exit is None or any(
                worker.streams[name].open for name in STREAMS):
            return worker.gone
        worker.gone = True
        self._out.append(WorkerGone(worker, *worker.exit))
        return True

    def _pidfd(self, fd: int, worker: PoolWorker) -> None:
        self._selector.unregister(fd)
        os.close(fd)
        self._exited(worker)

    def _read(self, worker: PoolWorker, name: str) -> None:
        stream = worker.streams[name]
        try:
            data = os.read(stream.fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._end_of(worker, name)
            return
        *lines, stream.partial = (stream.partial + data).split(b"\n")
        if len(stream.partial) > MAX_LINE:
            lines.append(stream.partial)
            stream.partial = b""
        for line in lines:
            self._line(worker, name, line)

    def _end_of(self, worker: PoolWorker, name: str) -> None:
        stream = worker.streams[name]
        if stream.partial:
            self._line(worker, name, stream.partial)
            stream.partial = b""
        self._selector.unregister(stream.fd)
        os.close(stream.fd)
        stream.open = False
        self._finished(worker)

    def _line(self, worker: PoolWorker, name: str, line: bytes) -> None:
        if name == "events":
            try:
                event = json.loads(line)
            except ValueError:
                event = None
            if isinstance(event, dict) and "ready" in event:
                worker.ready = event
                self._mark(worker, name)
            elif isinstance(event, dict):
                self._attribute(worker, name, ChildEvent, event)
            else:
                self._output(worker, "stderr", line, name)
            return
        if line.endswith(MARK):
            if len(line) > len(MARK):
                self._output(worker, name, line[:-len(MARK)], name)
            self._mark(worker, name)
            return
        self._output(worker, name, line, name)

    def _output(self, worker: PoolWorker, stream: str, line: bytes, pipe: str) -> None:
        text = line.decode("utf-8", "replace").rstrip("\r")
        self._attribute(worker, pipe, lambda eid, _: ChildOutput(eid, stream, text), None)

    def _attribute(self, worker: PoolWorker, pipe: str, make: Callable, value: Any) -> None:
        """A message of the execution the worker runs now; a line after that run's end mark on
        this pipe (a process the run left behind wrote it) belongs to no execution."""
        execution_id = worker.execution_id
        # a run is (execution id, the worker's run number): a new attempt of an execution may
        # run on the worker that ran the one before
        if execution_id is None or worker.streams[pipe].ended_run == (execution_id, worker.runs):
            log.info("%r: a line written between executions was dropped", worker)
            return
        self._out.append(make(execution_id, value))

    def _mark(self, worker: PoolWorker, name: str) -> None:
        execution_id = worker.execution_id
        if execution_id is None:
            return
        run = (execution_id, worker.runs)
        worker.streams[name].ended_run = run
        if all(worker.streams[n].ended_run == run for n in STREAMS):
            ready = worker.ready
            self._out.append(RunEnded(worker, execution_id, ready.get("reuse") is True,
                                      ready.get("reason")))

    def _after(self, delay: float, call: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._order), call))

    def _timeout(self) -> float | None:
        if not self._timers:
            return None
        return max(0.0, self._timers[0][0] - time.monotonic())

    def _loop(self) -> None:
        while not self._closed:
            for key, _ in self._selector.select(self._timeout()):
                if key.data is None:
                    self._drain_wake()
                    continue
                worker, name = key.data
                try:
                    self._dispatch(key.fd, worker, name)
                except Exception:  # noqa: BLE001 - one worker must not stop the others
                    log.exception("%r: its pipe %s failed", worker, name)
            self._run_calls()
            if self._out:
                out, self._out = self._out, []
                self._deliver(out)
                if self._linger:
                    time.sleep(self._linger)
        self._selector.close()

    def _dispatch(self, fd: int, worker: PoolWorker, name: str) -> None:
        if name == "stdin":
            self._room(worker)
        elif name == "exit":
            self._pidfd(fd, worker)
        else:
            self._read(worker, name)

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def _run_calls(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            self._calls.append(heapq.heappop(self._timers)[2])
        while self._calls:
            call = self._calls.popleft()
            try:
                call()
            except Exception:  # noqa: BLE001
                log.exception("the pipe watcher failed")
