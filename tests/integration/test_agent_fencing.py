"""Fencing on a real agent process (zygote on) reporting to a FakeBus (``docs/protocol.md``,
"Attempts and fencing"): attempts on events, idempotent starts, ``GET /executions/{id}`` and its
tombstones, ``agent/executions`` in heartbeats, ``moved``, self-fencing, refused events."""
from __future__ import annotations

import threading
import time

import httpx
import pytest

from jsbus.launch import wait_until
from tests.integration.fenceapp import (heartbeat_after, hello, post_until, ticker, ticking_pid,
                                        write_fence_app)
from tests.integration.realagent import Agent, alive, command


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return write_fence_app(tmp_path_factory.mktemp("fence-app"))


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    process = Agent(tmp_path_factory.mktemp("fence-agent"), "fence-agent",
                    JSAGENT_HEARTBEAT_INTERVAL="0.2")
    try:
        yield process
    finally:
        code = process.close()
    assert code == 0, process.log()[-3000:]


def started(agent: Agent, execution_id: int) -> list[dict]:
    return [e for e in agent.bus.execution_events(execution_id)
            if e["type"] == "execution" and e["status"] == "started"]


@pytest.mark.timeout(60)
def test_the_same_start_twice_runs_once_and_every_event_carries_its_attempt(agent, app):
    body = hello(app, 101, attempt=3)
    assert agent.http.post("/executions", json=body).status_code == 202
    again = agent.http.post("/executions", json=body)
    assert again.status_code == 200 and again.json() == {"execution-id": 101, "accepted": True}
    batch = agent.http.post("/executions/batch", json={"executions": [body, body]})
    assert [r["status"] for r in batch.json()["results"]] == [200, 200]
    assert agent.bus.final_event(101)["status"] == "completed"
    assert len(started(agent, 101)) == 1
    assert {e["attempt"] for e in agent.bus.execution_events(101)} == {3}
    # a lower attempt is stale; a higher one after the end runs anew, as that attempt
    stale = agent.http.post("/executions", json=hello(app, 101, attempt=2))
    assert stale.status_code == 409, stale.text
    assert agent.http.post("/executions", json=hello(app, 101, attempt=4)).status_code == 202
    agent.bus.wait_for(lambda: any(e["attempt"] == 4 and e["type"] == "execution"
                                   and e["status"] == "completed"
                                   for e in agent.bus.execution_events(101)))
    assert len(started(agent, 101)) == 2


@pytest.mark.timeout(60)
def test_a_higher_attempt_of_a_running_execution_is_refused(agent, app):
    agent.start(ticker(app, 102))
    ticking_pid(agent, 102)
    answer = agent.http.post("/executions", json=ticker(app, 102, attempt=2))
    assert answer.status_code == 409 and "attempt 1" in answer.json()["messages"][0]
    agent.stop(102)
    assert agent.bus.final_event(102)["attempt"] == 1


@pytest.mark.timeout(60)
def test_get_execution_answers_what_the_agent_has_and_404_leaves_a_tombstone(agent, app):
    assert agent.http.get("/executions/103?attempt=2").status_code == 404
    refused = agent.http.post("/executions", json=hello(app, 103, attempt=2))
    assert refused.status_code == 409, refused.text
    batch = agent.http.post("/executions/batch", json={"executions": [hello(app, 103)]})
    assert batch.json()["results"][0]["status"] == 409
    assert agent.bus.execution_events(103) == []
    # a later attempt may run: the bus moved it on
    agent.start(ticker(app, 103, attempt=3))
    ticking_pid(agent, 103)
    assert agent.http.get("/executions/103?attempt=3").json() == {
        "execution-id": 103, "attempt": 3, "state": "running"}
    agent.stop(103)
    agent.bus.final_event(103)
    assert agent.http.get("/executions/103").json() == {
        "execution-id": 103, "attempt": 3, "state": "ended", "batch-status": "stopped"}
    # held (scheduled) executions are waiting
    agent.start(command(app, 104, "fenceapp_steps.Hello", not_before="2099-01-01T00:00:00Z"))
    assert agent.http.get("/executions/104").json()["state"] == "waiting"
    agent.stop(104)
    # the query is a command: signed only
    unsigned = httpx.get(f"{agent.url}/executions/103", trust_env=False)
    assert unsigned.status_code == 401
    assert agent.http.get("/executions/103?attempt=zero").status_code == 400


@pytest.mark.timeout(60)
def test_heartbeats_carry_the_executions_and_moved_ones_are_killed_silently(agent, app):
    agent.start(ticker(app, 105, attempt=2))
    pid = ticking_pid(agent, 105)
    heartbeat_after(agent, lambda h: [105, 2] in h["agent/executions"])
    assert heartbeat_after(agent, lambda h: True)["agent/draining"] is False
    agent.bus.move(105, 2)
    wait_until(lambda: not alive(pid), 10, what="the moved execution's worker to die")
    heartbeat_after(agent, lambda h: [105, 2] not in h["agent/executions"])
    seen = len(agent.bus.execution_events(105))
    # two heartbeats later, nothing more came of it: no final event, no tick
    heartbeat_after(agent, lambda h: True)
    heartbeat_after(agent, lambda h: True)
    events = agent.bus.execution_events(105)
    assert len(events) == seen
    assert not any(e["type"] == "execution" and e["status"] in ("stopped", "failed")
                   for e in events)
    assert agent.http.get("/executions/105").json()["moved"] is True
    assert agent.http.post("/executions", json=ticker(app, 105, attempt=2)).status_code == 200
    assert agent.run(hello(app, 106))[-1]["status"] == "completed"  # the agent works on


@pytest.mark.timeout(60)
def test_refused_events_are_dropped_not_sent_again(agent, app):
    agent.bus.refuse_events(lambda event: event["execution-id"] == 107)
    try:
        agent.start(hello(app, 107))
        agent.bus.wait_for(lambda: any(e["type"] == "execution" and e["status"] == "completed"
                                       for e in agent.bus.refused_events))
        assert agent.run(hello(app, 108))[-1]["status"] == "completed"
        refused = [e["seq"] for e in agent.bus.refused_events if e["execution-id"] == 107]
        assert refused and len(refused) == len(set(refused))  # each once: never sent again
        assert agent.bus.execution_events(107) == [] and agent.bus.rejected_batches == 0
    finally:
        agent.bus.refuse_events(None)


@pytest.mark.timeout(90)
def test_an_agent_that_loses_the_bus_fences_itself_and_resumes_when_it_is_back(tmp_path):
    lease = 2.0
    agent = Agent(tmp_path, "fenced", JSAGENT_HEARTBEAT_INTERVAL="0.2",
                  JSAGENT_SELF_FENCE="0.6")
    try:
        agent.bus.lease = lease
        app = write_fence_app(tmp_path / "app")
        heartbeat_after(agent, lambda h: True)  # the short lease is known
        agent.start(ticker(app, 1))
        pid = ticking_pid(agent, 1)
        agent.bus.fail_events(10**9)  # the bus is gone: its events wait in the agent
        agent.bus.fail_heartbeats(503)
        lost = time.monotonic()
        wait_until(lambda: not alive(pid), lease + 3, interval=0.02,
                   what="the fenced agent's execution to end")
        stopped_after = time.monotonic() - lost
        assert stopped_after < lease + 1, stopped_after  # before (about) the bus declares it lost
        refused = agent.http.post("/executions", json=hello(app, 2))
        assert refused.status_code == 503 and "fenced" in refused.json()["messages"][0]
        # the bus is back: the kept events arrive, and the agent takes work again
        agent.bus.fail_heartbeats(200)
        agent.bus.fail_events(0)
        final = agent.bus.final_event(1)
        assert (final["status"], final["exit-status"], final["reason"], final["attempt"]) == (
            "stopped", "STOPPED-TICKING", "fence", 1)
        post_until(agent, hello(app, 2), 202)
        assert agent.bus.final_event(2)["status"] == "completed"
        assert "SELF-FENCED" in agent.log()
    finally:
        assert agent.close() == 0, agent.log()[-3000:]


# --- the parts, without processes ---------------------------------------------------------------

def test_the_attempt_of_a_start_command_is_parsed_and_checked(app):
    from jsagent.commands import parse_start_command
    from jsbus.errors import ValidationError
    assert parse_start_command(hello(app, 1)).attempt == 1
    assert parse_start_command(hello(app, 1, attempt=7)).attempt == 7
    for bad in (0, -1, "2", True, 1.5):
        with pytest.raises(ValidationError, match="attempt"):
            parse_start_command(hello(app, 1, attempt=bad))


def test_tombstones_keep_the_highest_attempt_and_are_bounded():
    from jsagent.messages import Tombstones
    stones = Tombstones(limit=3)
    stones.add(1, 2)
    stones.add(1, 1)
    assert stones.refuses(1, 2) and stones.refuses(1, 1) and not stones.refuses(1, 3)
    for execution_id in (2, 3, 4):
        stones.add(execution_id, 1)
    assert not stones.refuses(1, 1) and stones.refuses(4, 1)  # the oldest was dropped


class FenceChecks:
    """Stands in for a ``SelfFence``'s stop event, whose ``wait(FENCE_CHECK)`` is the pause
    between two of its checks: here a pause lasts until the test lets the next check run
    (:meth:`run`), so that the test knows which checks ran against its fake clock."""

    def __init__(self):
        self._turn = threading.Condition()
        self._pauses = 0  # how often the fence came to a pause: the checks it ended, + 1
        self._allowed = 0  # checks let run that have not started yet
        self._closed = False

    def wait(self, timeout: float | None = None) -> bool:
        """The fence's pause; True: it was closed."""
        with self._turn:
            self._pauses += 1
            self._turn.notify_all()
            self._turn.wait_for(lambda: self._closed or self._allowed)
            if self._closed:
                return True
            self._allowed -= 1
            return False

    def set(self) -> None:  # SelfFence.close()
        with self._turn:
            self._closed = True
            self._turn.notify_all()

    def run(self, checks: int = 1, timeout: float = 5) -> None:
        """Let ``checks`` checks run, one after the other; return once they have ended."""
        with self._turn:
            for _ in range(checks):
                assert self._turn.wait_for(lambda: self._pauses, timeout), "the fence never paused"
                ended = self._pauses + 1
                self._allowed += 1
                self._turn.notify_all()
                assert self._turn.wait_for(lambda: self._pauses >= ended, timeout), \
                    "a check of the fence did not end"


def test_the_self_fence_fires_once_after_silence_and_lifts_at_the_next_success():
    from jsagent.heartbeat import SelfFence
    now = [100.0]
    calls: list = []
    fence = SelfFence(0.5, lambda why: calls.append(("fence", why)),
                      lambda: calls.append(("unfence",)), clock=lambda: now[0])
    fence._closed = checks = FenceChecks()  # its checks run when the test says, on `now`
    fence.start()
    try:
        fence.succeeded(None)  # no lease known yet: nothing to measure against
        now[0] += 100
        checks.run(3)
        assert calls == []
        fence.succeeded(2.0)
        now[0] += 0.9
        checks.run(3)
        assert calls == []
        now[0] += 0.2  # 1.1 s > 0.5 x 2 s
        checks.run()
        assert [call[0] for call in calls] == ["fence"]
        checks.run(3)
        assert len(calls) == 1 and "lease 2 s" in calls[0][1]
        fence.succeeded(None)
        assert calls[-1] == ("unfence",)
    finally:
        fence.close()


def test_the_reporter_drops_refused_and_moved_events():
    from jsagent.reporter import EventReporter
    posted: list[list[int]] = []
    gate = __import__("threading").Event()

    def answer(request: httpx.Request) -> httpx.Response:
        batch = __import__("json").loads(request.content)["events"]
        gate.wait(10)
        posted.append([e["seq"] for e in batch])
        return httpx.Response(200, json={"applied": 0, "refused": [
            e["seq"] for e in batch if e["execution-id"] == 1]})

    client = httpx.Client(transport=httpx.MockTransport(answer))
    reporter = EventReporter("agent", "http://bus", client, batch_size=2)
    stored: list[int] = []
    reporter.emit({"execution-id": 1, "attempt": 1}, lambda: stored.append(1))
    reporter.emit({"execution-id": 2, "attempt": 1}, lambda: stored.append(2))
    reporter.emit({"execution-id": 1, "attempt": 1})  # dropped with the refused one
    reporter.emit({"execution-id": 3, "attempt": 5})
    reporter.emit({"execution-id": 3, "attempt": 5})
    reporter.emit({"execution-id": 4, "attempt": 1})
    reporter.start()
    wait_until(lambda: reporter.pending() == 6, 5)
    assert reporter.drop([(3, 5)]) == 2  # moved away
    gate.set()
    assert reporter.close(5)
    assert posted == [[1, 2], [6]] and stored == [2]
