"""The zygote (``jsagent.zygote``) and ``not-before``, on real agent processes and workers.

The agents report to a FakeBus; the batchlets are written to a temporary application directory
(put on the classpath) whose module records, when imported, the pid of the process importing
it: the zygote must never be one of them.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from jsbus.launch import wait_until
from tests.integration.realagent import Agent, command, rfc3339, seconds

APP = textwrap.dedent('''
    """Batchlets of the zygote tests."""
    import logging
    import os
    import signal
    import subprocess
    import sys
    import threading
    import time

    from jsagent.api import Batchlet

    with open(os.path.join(os.path.dirname(__file__), "imported-by"), "a") as _out:
        _out.write(f"{os.getpid()}\\n")

    log = logging.getLogger("zygapp")


    class Hello(Batchlet):
        """Writes to stdout, stderr and logging; returns its own exit status."""

        def process(self):
            print(f"hello {self.job_parameters.get('name')}")
            print("to stderr", file=sys.stderr)
            log.warning("logged in %s", self.step_context.step_name)
            return "HELLO"


    class Where(Batchlet):
        """Says which process runs it and when it started."""

        def process(self):
            now = time.time()
            print(f"where {os.getpid()} {os.getppid()} {os.getsid(0)} {now:.6f}", flush=True)
            return "HERE"


    class Sleep(Batchlet):
        """Waits until stop() is called (or 60 s pass)."""

        def __init__(self):
            self.stopped = threading.Event()

        def process(self):
            print("sleeping", flush=True)
            self.stopped.wait(60)
            return "WOKEN" if self.stopped.is_set() else "TIMED-OUT"

        def stop(self):
            self.stopped.set()


    class Stubborn(Batchlet):
        """Ignores SIGTERM and stop(); starts a command in a session of its own."""

        def process(self):
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            child = subprocess.Popen(["sleep", "300"], start_new_session=True)
            print(f"child pid {child.pid}", flush=True)
            threading.Event().wait(60)
            return "NEVER"


    class Touch(Batchlet):
        """Creates the file named by its ``path`` property."""

        def process(self):
            open(self.path, "w").close()
            return "TOUCHED"
''')


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("zygapp")
    (directory / "zygapp.py").write_text(APP)
    return directory


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    process = Agent(tmp_path_factory.mktemp("zygote-agent"), "zygote-agent")
    try:
        yield process
    finally:
        code = process.close()
    assert code == 0, process.log()[-3000:]


def comparable(events: list[dict]) -> list[tuple]:
    """Events without times and ids, as (type, step, status, exit status, level, logger,
    message)."""
    return [(e["type"], e.get("step"), e.get("status"), e.get("exit-status"), e.get("level"),
             e.get("logger"), e.get("message")) for e in events]


@pytest.mark.timeout(90)
def test_forked_workers_report_what_spawned_workers_report(agent, app_dir, tmp_path):
    zygote = agent.zygote()
    assert zygote is not None, agent.log()
    forked = agent.run(command(app_dir, 1, "zygapp.Hello", "zygapp.Where"))
    plain = Agent(tmp_path, "plain-agent", zygote=False)
    try:
        assert plain.zygote() is None
        spawned = plain.run(command(app_dir, 1, "zygapp.Hello", "zygapp.Where"))
        where_spawned = plain.where(1)
    finally:
        assert plain.close() == 0, plain.log()[-3000:]
    where = agent.where(1)
    assert where["ppid"] == zygote.pid and where["sid"] == where["pid"]  # a session leader
    assert where_spawned["ppid"] == plain.pid and where_spawned["sid"] == where_spawned["pid"]
    drop_where = [e for e in forked if not e.get("message", "").startswith("where ")]
    assert comparable(drop_where) == comparable(
        [e for e in spawned if not e.get("message", "").startswith("where ")])
    assert ("log", "STEP-1", None, None, "INFO", "stdout", "hello zygote", ) in comparable(forked)
    assert ("log", "STEP-1", None, None, "WARNING", "stderr", "to stderr") in comparable(forked)
    assert forked[-1]["status"] == "completed"
    importers = {int(pid) for pid in (app_dir / "imported-by").read_text().split()}
    assert zygote.pid not in importers and where["pid"] in importers


@pytest.mark.timeout(60)
def test_stop_reaches_a_forked_worker(agent, app_dir):
    agent.start(command(app_dir, 2, "zygapp.Sleep", "zygapp.Hello"))
    agent.message(2, "sleeping")
    agent.stop(2)
    final = agent.bus.final_event(2)
    assert (final["status"], final["exit-status"]) == ("stopped", "WOKEN")
    assert [e["step"] for e in agent.events(2) if e["type"] == "step-started"] == ["STEP-1"]


@pytest.mark.timeout(60)
def test_a_forked_worker_that_ignores_stop_is_killed_with_its_commands(agent, app_dir):
    agent.start(command(app_dir, 3, "zygapp.Stubborn"))
    pid = int(agent.message(3, "child pid ").split()[-1])
    agent.stop(3)
    final = agent.bus.final_event(3)
    assert (final["status"], final["exit-status"]) == ("stopped", "worker killed by signal 9")
    wait_until(lambda: not psutil.pid_exists(pid)
               or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, 10,
               what="the worker's command to be killed")


@pytest.mark.timeout(60)
def test_not_before_in_the_future_delays_the_start(agent, app_dir):
    not_before = rfc3339(time.time() + 1.5)
    agent.start(command(app_dir, 4, "zygapp.Where", not_before=not_before))
    due = seconds(not_before)
    first = wait_until(lambda: agent.bus.execution_events(4), 5, interval=0.01)
    assert first[0]["status"] == "starting"
    # half way to not-before nothing of the job has happened
    wait_until(lambda: time.time() >= due - 0.7, 5, interval=0.01)
    assert [e["status"] for e in agent.events(4)] == ["starting"]
    final = agent.bus.final_event(4)
    assert final["status"] == "completed"
    started = next(e for e in agent.events(4) if e.get("status") == "started")
    assert seconds(started["time"]) >= due
    where = agent.where(4)
    assert due <= where["time"] < due + 0.5, where["time"] - due


@pytest.mark.timeout(60)
def test_not_before_in_the_past_starts_at_once(agent, app_dir):
    posted = time.time()
    events = agent.run(command(app_dir, 5, "zygapp.Where",
                               not_before="2001-02-03T04:05:06.789+01:00"))
    assert events[-1]["status"] == "completed"
    assert agent.where(5)["time"] - posted < 0.5


@pytest.mark.timeout(60)
def test_stop_before_not_before_ends_the_execution_stopped_without_running_it(agent, app_dir,
                                                                              tmp_path):
    """Held by the agent (not-before further away than agent.handoff): no worker has it."""
    marker = tmp_path / "touched"
    not_before = time.time() + 30
    agent.start(command(app_dir, 6, "zygapp.Touch", not_before=rfc3339(not_before),
                        properties={"path": str(marker)},
                        restart={"previous-execution": 5, "position": "STEP-1"}))
    agent.stop(6)
    final = agent.bus.final_event(6, timeout=10)
    assert time.time() < not_before - 15
    assert (final["status"], final["exit-status"], final["restart-position"]) == (
        "stopped", "STOPPED", "STEP-1")
    assert [e["status"] for e in agent.events(6)] == ["starting", "stopped"]
    assert not marker.exists()


@pytest.mark.timeout(60)
def test_stop_during_the_workers_not_before_wait_ends_it_stopped(app_dir, tmp_path):
    """Handed over at once (agent.handoff is longer than the wait): the worker waits, and the
    stop (SIGTERM) ends its wait; the worker is then replaced."""
    agent = Agent(tmp_path, "handoff-agent", JSAGENT_HANDOFF="120")
    try:
        agent.run(command(app_dir, 1, "zygapp.Where"))
        first = agent.where(1)["pid"]
        marker = tmp_path / "touched"
        agent.start(command(app_dir, 2, "zygapp.Touch", not_before=rfc3339(time.time() + 30),
                            properties={"path": str(marker)},
                            restart={"previous-execution": 1, "position": "STEP-1"}))
        agent.stop(2)
        final = agent.bus.final_event(2, timeout=10)
        assert (final["status"], final["exit-status"], final["restart-position"]) == (
            "stopped", "STOPPED", "STEP-1")
        assert [e["status"] for e in agent.events(2)] == ["starting", "stopped"]
        assert not marker.exists()
        agent.run(command(app_dir, 3, "zygapp.Where"))
        assert agent.where(3)["pid"] != first  # the stopped worker ran nothing more
    finally:
        code = agent.close()
    assert code == 0, agent.log()[-3000:]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("not_before", [
    "tomorrow", "2026-11-28T22:24:55", "2026-11-28 22:24:55Z", "2026-02-30T00:00:00Z", 1234])
def test_a_bad_not_before_is_a_400(agent, app_dir, not_before):
    answer = agent.http.post("/executions", json=command(app_dir, 7, "zygapp.Hello",
                                                         not_before=not_before))
    assert answer.status_code == 400
    assert any(message.startswith("not-before must be an RFC 3339 time")
               for message in answer.json()["messages"]), answer.text


@pytest.mark.timeout(120)
def test_a_crashed_zygote_is_replaced_and_executions_still_run(app_dir, tmp_path):
    agent = Agent(tmp_path, "crash-agent", JSAGENT_WORKER_REUSE="1")  # a worker per run
    try:
        first = agent.zygote()
        agent.start(command(app_dir, 1, "zygapp.Sleep"))
        agent.message(1, "sleeping")
        first.kill()  # SIGKILL: the running execution goes on without its zygote
        second = wait_until(lambda: (z := agent.zygote()) and z.pid != first.pid and z, 20,
                            what="a new zygote")
        wait_until(lambda: "restarting it" in agent.log(), 10, what="the restart in the log")
        ids = iter(range(100, 200))

        def forked_by_the_new_zygote() -> bool:  # spawned until the new one is ready
            execution_id = next(ids)
            assert agent.run(command(app_dir, execution_id, "zygapp.Where"))[-1][
                "status"] == "completed"
            return agent.where(execution_id)["ppid"] == second.pid

        wait_until(forked_by_the_new_zygote, 20, what="a worker forked by the new zygote")
        agent.stop(1)  # the orphaned worker still has its agent: it stops and reports
        final = agent.bus.final_event(1)
        assert (final["status"], final["exit-status"]) == ("stopped", "WOKEN")
        # a zygote that dies again soon after its restart is not restarted: workers are spawned
        wait_until(lambda: agent.zygote() is not None, 20, what="the new zygote")
        agent.zygote().kill()
        wait_until(lambda: "fresh processes from now on" in agent.log(), 20,
                   what="the agent to give up on the zygote")

        def spawned_by_the_agent() -> bool:  # the spares forked before are used up first
            execution_id = next(ids)
            assert agent.run(command(app_dir, execution_id, "zygapp.Where"))[-1][
                "status"] == "completed"
            return agent.where(execution_id)["ppid"] == agent.pid

        wait_until(spawned_by_the_agent, 20, what="a worker spawned by the agent")
    finally:
        code = agent.close()
    assert code == 0, agent.log()[-3000:]


# --- not-before on the bare worker (python -m jsagent.worker) ----------------------------------

def run_worker(body: dict, stop: bool = False, timeout: float = 30) -> tuple[list[dict], int]:
    """Run a spawned worker on ``body``; with ``stop``, SIGTERM it once it waits."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "jsagent.worker"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            pass_fds=(write_fd,), start_new_session=True,
                            env=dict(os.environ, JSAGENT_EVENT_FD=str(write_fd)))
    os.close(write_fd)
    try:
        proc.stdin.write((json.dumps(body) + "\n").encode())
        proc.stdin.flush()
        if stop:  # its SIGTERM handler is set before it starts its two threads
            wait_until(lambda: psutil.Process(proc.pid).num_threads() >= 3, 20,
                       interval=0.01, what="the worker to wait")
            proc.terminate()
        with os.fdopen(read_fd, "rb") as pipe:
            events = [json.loads(line) for line in pipe]
        proc.stdin.close()
        return events, proc.wait(timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stderr.close()


@pytest.mark.timeout(60)
def test_a_spawned_worker_waits_for_not_before_and_a_stop_ends_the_wait(app_dir, tmp_path):
    due = time.time() + 0.8
    events, code = run_worker(command(app_dir, 8, "zygapp.Where", not_before=rfc3339(due)))
    assert code == 0
    assert [e.get("status") for e in events if e["type"] == "execution"] == [
        "started", "completed"]
    assert seconds(events[0]["time"]) >= seconds(rfc3339(due))
    marker = tmp_path / "touched"
    events, code = run_worker(command(app_dir, 9, "zygapp.Touch",
                                      not_before=rfc3339(time.time() + 30),
                                      properties={"path": str(marker)}), stop=True)
    assert code == 0 and not marker.exists()
    assert [(e["type"], e["status"], e["exit-status"], e["restart-position"])
            for e in events] == [("execution", "stopped", "STOPPED", None)]
