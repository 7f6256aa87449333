"""A pooled worker (``python -m jsagent.worker --pool``) alone, driven as the agent drives it:
start commands one after another on stdin, events on the pipe named by ``JSAGENT_EVENT_FD``,
the end-of-run marks on stdout and stderr (``docs/protocol.md``, "Inside the agent")."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from jsagent.workerloop import END_OF_RUN
from tests.integration.realagent import command, write_pool_app


class PooledWorker:
    """The worker process and everything it wrote, read on threads of their own."""

    def __init__(self):
        read_fd, write_fd = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jsagent.worker", "--pool"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(write_fd,),
            env=dict(os.environ, JSAGENT_EVENT_FD=str(write_fd)), start_new_session=True)
        os.close(write_fd)
        self.events: list[dict] = []
        self.out = {"stdout": b"", "stderr": b""}
        self._cond = threading.Condition()
        for target, args in ((self._read_events, (os.fdopen(read_fd, "rb"),)),
                             (self._read, ("stdout", self.proc.stdout)),
                             (self._read, ("stderr", self.proc.stderr))):
            threading.Thread(target=target, args=args, daemon=True).start()

    def _read_events(self, pipe) -> None:
        with pipe:
            for line in pipe:
                with self._cond:
                    self.events.append(json.loads(line))
                    self._cond.notify_all()

    def _read(self, name: str, pipe) -> None:
        while data := pipe.read1(65536):
            with self._cond:
                self.out[name] += data
                self._cond.notify_all()

    def send(self, body: dict) -> None:
        self.proc.stdin.write(json.dumps(body).encode() + b"\n")
        self.proc.stdin.flush()

    def wait_for(self, predicate, timeout: float = 30):
        with self._cond:
            result = self._cond.wait_for(predicate, timeout)
        assert result, f"not seen: events {self.events}, output {self.out}"
        return result

    def run(self, body: dict) -> list[dict]:
        """Send ``body`` and wait for its ``ready``; the events of that run (with it)."""
        execution_id = body["execution-id"]
        self.send(body)
        self.wait_for(lambda: any(e.get("ready") == execution_id for e in self.events))
        return [e for e in self.events if execution_id in (e.get("execution-id"),
                                                           e.get("ready"))]

    def end(self, timeout: float = 30) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            self.proc.stdin.close()


@pytest.fixture
def app_dir(tmp_path) -> Path:
    return write_pool_app(tmp_path / "app", "solo")


@pytest.mark.timeout(60)
def test_runs_follow_one_another_each_closed_by_its_marks(app_dir):
    worker = PooledWorker()
    first = worker.run(command(app_dir, 1, "poolapp.RawOutput"))
    second = worker.run(command(app_dir, 2, "poolapp.Where"))
    for events in (first, second):
        assert [e.get("status") for e in events if e.get("type") == "execution"] == [
            "started", "completed"]
        assert events[-1] == {"ready": events[0]["execution-id"], "reuse": True, "reason": None}
    worker.wait_for(lambda: worker.out["stdout"].count(END_OF_RUN) == 2
                    and worker.out["stderr"].count(END_OF_RUN) == 2)
    assert worker.out["stdout"] == (b"raw line\nfrom a subprocess\nno newline at the end"
                                    + END_OF_RUN + END_OF_RUN)
    assert worker.out["stderr"] == b"raw error\n" + END_OF_RUN + END_OF_RUN
    worker.proc.stdin.close()  # the end of stdin while idle: the worker ends
    assert worker.end() == 0


@pytest.mark.timeout(60)
def test_sigterm_while_idle_ends_the_worker(app_dir):
    worker = PooledWorker()
    worker.run(command(app_dir, 1, "poolapp.Where"))
    worker.proc.terminate()
    assert worker.end() == 0


@pytest.mark.timeout(60)
def test_a_worker_that_cannot_be_put_back_says_so_and_ends(app_dir):
    worker = PooledWorker()
    events = worker.run(command(app_dir, 1, "poolapp.LeaveThread"))
    assert events[-1]["reuse"] is False
    assert events[-1]["reason"] == "the run left threads running: left-behind"
    assert worker.end() == 0


@pytest.mark.timeout(60)
def test_sigterm_stops_the_run_and_the_worker_does_not_run_again(app_dir):
    worker = PooledWorker()
    worker.send(command(app_dir, 1, "poolapp.Sleep"))
    worker.wait_for(lambda: any(e.get("message", "").startswith("sleeping")
                                for e in worker.events))
    worker.proc.terminate()
    worker.wait_for(lambda: any(e.get("ready") == 1 for e in worker.events))
    final = [e for e in worker.events if e.get("type") == "execution"][-1]
    assert (final["status"], final["exit-status"]) == ("stopped", "WOKEN")
    assert worker.events[-1] == {"ready": 1, "reuse": False, "reason": "stopped (SIGTERM)"}
    assert worker.end() == 0
