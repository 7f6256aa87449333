"""SIGTERM drains a real agent process (zygote on) reporting to a FakeBus (``docs/protocol.md``,
"Draining"): no new work, the running execution gets the grace, then stops with reason
``drain``; its events reach the bus before the agent exits 0. A second signal kills at once."""
from __future__ import annotations

import signal
import time

import pytest

from jsbus.launch import wait_until
from tests.integration.fenceapp import heartbeat_after, hello, ticker, ticking_pid, write_fence_app
from tests.integration.realagent import Agent, alive

GRACE = 2.0


@pytest.mark.timeout(90)
def test_sigterm_drains_then_stops_with_reason_drain_and_exits_0(tmp_path):
    agent = Agent(tmp_path, "drained", JSAGENT_HEARTBEAT_INTERVAL="0.2",
                  JSAGENT_DRAIN_GRACE=str(GRACE))
    try:
        app = write_fence_app(tmp_path / "app")
        agent.start(ticker(app, 1, attempt=2))
        pid = ticking_pid(agent, 1)
        agent.process.popen.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        draining = heartbeat_after(agent, lambda h: h["agent/draining"])
        assert draining["agent/executions"] == [[1, 2]]
        busy = agent.http.post("/executions", json=hello(app, 2))
        assert busy.status_code == 503 and "draining" in busy.json()["messages"][0]
        assert agent.process.popen.wait(GRACE + 20) == 0, agent.log()[-3000:]
        # it ran through the grace, was stopped (JSR-352 stop), and its events were flushed
        assert time.monotonic() - signalled >= GRACE
        final = agent.bus.final_event(1, timeout=0)
        assert (final["status"], final["exit-status"], final["reason"], final["attempt"]) == (
            "stopped", "STOPPED-TICKING", "drain", 2)
        ticks = [e for e in agent.bus.execution_events(1)
                 if e["type"] == "log" and e["message"].startswith("tick ")]
        assert ticks, "the execution ran on during the grace"
        assert not alive(pid)
        assert agent.bus.execution_events(2) == []
    finally:
        agent.close()


@pytest.mark.timeout(90)
def test_an_execution_that_ends_within_the_grace_is_not_stopped(tmp_path):
    agent = Agent(tmp_path, "drained-ok", JSAGENT_HEARTBEAT_INTERVAL="0.2",
                  JSAGENT_DRAIN_GRACE="30")
    try:
        app = write_fence_app(tmp_path / "app")
        agent.start(ticker(app, 1))
        ticking_pid(agent, 1)
        agent.process.popen.send_signal(signal.SIGTERM)
        heartbeat_after(agent, lambda h: h["agent/draining"])
        agent.stop(1)  # the bus stops it (a user asked): stopped, no drain reason
        assert agent.process.popen.wait(20) == 0, agent.log()[-3000:]
        final = agent.bus.final_event(1, timeout=0)
        assert final["status"] == "stopped" and "reason" not in final
    finally:
        agent.close()


@pytest.mark.timeout(90)
def test_a_second_signal_kills_at_once(tmp_path):
    agent = Agent(tmp_path, "killed", JSAGENT_HEARTBEAT_INTERVAL="0.2", JSAGENT_DRAIN_GRACE="60")
    try:
        app = write_fence_app(tmp_path / "app")
        agent.start(ticker(app, 1))
        pid = ticking_pid(agent, 1)
        agent.process.popen.send_signal(signal.SIGTERM)
        heartbeat_after(agent, lambda h: h["agent/draining"])
        assert alive(pid)
        agent.process.popen.send_signal(signal.SIGINT)
        assert agent.process.popen.wait(15) == 128 + signal.SIGINT, agent.log()[-3000:]
        wait_until(lambda: not alive(pid), 5, what="the killed worker to be gone")
    finally:
        agent.close()
