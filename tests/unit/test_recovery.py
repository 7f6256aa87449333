"""Nothing lost (issue 8), the bus's part, through a real Bus (SQLite in a temp dir, or
PostgreSQL), falcon's TestClient for the agent's heartbeats and events (``tests.trusted_agent``),
and a FAKE agent endpoint on loopback (``FakeAgent``) that takes start commands and answers
``GET /executions/{id}?attempt=n``."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from jsbus.control import restart_data
from jsbus.launch import wait_until
from jsbus.model import BatchStatus, utcnow
from jsbus.wire import rfc3339
from tests.trusted_agent import trusted
from tests.trusted_agent import heartbeat as trusted_heartbeat
from tests.unit.test_transport_http import FakeAgent

pytestmark = pytest.mark.timeout(60)
S = BatchStatus


@pytest.fixture
def bus_config(bus_config):
    # Queued executions are asked about after 0.25 * 2 s without an event. A new leader gives
    # agents a full lease from its start: a short one, so that ``lose`` is quick.
    return bus_config.with_overrides({"agents.command_timeout": 2.0,
                                      "recovery.queued_timeouts": 0.25, "agents.lease": 3.0})


@pytest.fixture
def fake():
    with FakeAgent() as agent:
        agent.answers[("POST", "/executions")] = (202, {"accepted": True})
        agent.answers[("PUT", "/executions/1/stop")] = (202, {})
        yield agent


def document(fake, instance_id="a-1", running=None):
    doc = {"agent/instance-id": instance_id, "agent/name": f"agent-{instance_id}",
           "agent/host": "127.0.0.1", "agent/port": fake.port, "agent/capacity": 4,
           "agent/jobs": {"running": 0}, "agent/stats": {}}
    if running is not None:
        doc["agent/executions"] = [list(pair) for pair in running]
    return doc


def heartbeat(client, fake, instance_id="a-1", running=None):
    response = trusted_heartbeat(client, instance_id, document(fake, instance_id, running))
    assert response.status_code == 200, response.json
    return response.json


def deploy(client, app_dir, restartable=True, job="JOB-1"):
    if client.simulate_get("/shop").status_code == 404:
        response = client.simulate_post("/apps", json={"name": "shop", "description": "t",
                                                       "classpath": [app_dir.as_uri()]})
        assert response.status_code == 201, response.json
    steps = [{"id": "STEP-1", "batchlet": {"ref": "unit_batch.Noop"}},
             {"id": "STEP-2", "batchlet": {"ref": "unit_batch.Noop"}}]
    response = client.simulate_post("/shop/jobs", json={"id": job, "restartable": restartable,
                                                        "steps": steps})
    assert response.status_code == 201, response.json
    return job


def submit(client, job="JOB-1"):
    response = client.simulate_post(f"/shop/job/{job}/executions", json={})
    assert response.status_code == 201, response.json
    return response.json["job-execution/execution-id"]


def execution(bus, execution_id):
    return bus.storage.get_execution(execution_id, with_steps=False)


def wait_status(bus, execution_id, status, attempt=None, timeout=15):
    def reached():
        found = execution(bus, execution_id)
        return (found.batch_status is status
                and (attempt is None or found.attempt == attempt)) and found
    return wait_until(reached, timeout, what=f"execution {execution_id} {status.value}")


def events(client, execution_id, specs, instance_id="a-1", attempt=1, first_seq=1):
    """Post events (type, extra fields) of one execution; returns the answer."""
    batch = []
    for seq, (kind, extra) in enumerate(specs, first_seq):
        batch.append({"seq": seq, "type": kind, "execution-id": execution_id,
                      "time": rfc3339(utcnow()), "attempt": attempt, **extra})
    response = trusted(client, instance_id).events(batch)
    assert response.status_code == 200, response.json
    return response.json


RUN_TO_STEP_2 = [("execution", {"status": "starting"}), ("execution", {"status": "started"}),
                 ("step-started", {"step": "STEP-1"}),
                 ("step-ended", {"step": "STEP-1", "status": "completed",
                                 "exit-status": "COMPLETED"}),
                 ("step-started", {"step": "STEP-2"}),
                 ("checkpoint", {"step": "STEP-2", "partition": -1, "reader": 40,
                                 "writer": None, "metrics": {"read-count": 40}})]


def lose(bus, instance_id="a-1"):
    """The agent's last heartbeat was an hour ago: the leader's next tick finds it lost."""
    agent = bus.storage.get_agent(instance_id)
    bus.storage.save_agent(replace(agent, last_seen=utcnow() - timedelta(hours=1)))
    wait_until(lambda: bus.storage.get_agent(instance_id).status.value == "lost", 10,
               what="the agent to be lost")


def started_on_agent(bus, client, fake, app_dir, restartable=True):
    job = deploy(client, app_dir, restartable)
    heartbeat(client, fake)
    execution_id = submit(client, job)
    wait_status(bus, execution_id, S.QUEUED)
    assert events(client, execution_id, RUN_TO_STEP_2) == {"applied": 6, "refused": []}
    assert execution(bus, execution_id).batch_status is S.STARTED
    return execution_id


def test_a_lost_agents_restartable_execution_moves_back_as_attempt_2(bus, client, fake,
                                                                      app_dir):
    execution_id = started_on_agent(bus, client, fake, app_dir)
    lose(bus)
    moved = wait_status(bus, execution_id, S.UNDISPATCHED, attempt=2)
    assert moved.agent_id is None
    # its next start command resumes from its own steps and checkpoints
    data = restart_data(bus.storage, moved)
    assert data["previous-execution"] == execution_id and data["position"] is None
    assert data["steps"]["STEP-1"]["batch-status"] == "completed"
    assert data["steps"]["STEP-1"]["start-count"] == 1
    assert data["steps"]["STEP-2"]["batch-status"] == "started"
    assert data["steps"]["STEP-2"]["start-count"] == 0  # the move is no new start
    assert data["checkpoints"]["STEP-2"]["-1"]["reader"] == 40
    logs = [record.message for record in bus.storage.list_logs(execution_id)]
    assert "moved from agent agent-a-1 (lost) as attempt 2" in logs


def test_a_lost_agents_non_restartable_execution_fails_agent_lost(bus, client, fake, app_dir):
    execution_id = started_on_agent(bus, client, fake, app_dir, restartable=False)
    lose(bus)
    failed = wait_status(bus, execution_id, S.FAILED)
    assert failed.exit_status == "AGENT-LOST" and failed.attempt == 1


def test_the_fail_policy_fails_restartable_ones_too(bus_config, fake, app_dir):
    from tests.conftest import admin_headers
    import falcon.testing
    from jsbus.api.app import create_app
    from jsbus.bus import Bus
    bus = Bus(bus_config.with_overrides({"recovery.policy": "fail"}))
    bus.start()
    try:
        client = falcon.testing.TestClient(create_app(bus), headers=admin_headers(bus))
        execution_id = started_on_agent(bus, client, fake, app_dir)
        lose(bus)
        assert wait_status(bus, execution_id, S.FAILED).exit_status == "AGENT-LOST"
    finally:
        bus.stop()


def test_a_lost_agents_stopping_execution_is_stopped(bus, client, fake, app_dir):
    execution_id = started_on_agent(bus, client, fake, app_dir)
    fake.answers[("PUT", f"/executions/{execution_id}/stop")] = (202, {})
    response = client.simulate_put(f"/shop/job/JOB-1/execution/{execution_id}/stop")
    assert response.status_code == 202, response.json
    assert execution(bus, execution_id).batch_status is S.STOPPING
    lose(bus)
    assert wait_status(bus, execution_id, S.STOPPED).attempt == 1


def test_stale_attempt_events_are_refused_by_seq_and_the_moved_list(bus, client, fake, app_dir):
    execution_id = started_on_agent(bus, client, fake, app_dir)
    lose(bus)
    wait_status(bus, execution_id, S.UNDISPATCHED, attempt=2)
    fake.answers[("GET", f"/executions/{execution_id}?attempt=2")] = (
        200, {"execution-id": execution_id, "attempt": 2, "state": "running"})
    # the agent comes back: it runs attempt 1, which the bus moved; it is told so
    answer = heartbeat(client, fake, running=[(execution_id, 1), (999_999, 1)])
    assert answer["agent/status"] == "ready"
    assert answer["moved"] == [[execution_id, 1], [999_999, 1]]
    # ready again, it gets attempt 2
    wait_status(bus, execution_id, S.QUEUED, attempt=2)
    wait_until(lambda: sum(r["method"] == "POST" for r in fake.requests) >= 2, 10,
               what="the second start command")
    assert [r["body"]["attempt"] for r in fake.requests
            if r["method"] == "POST"] == [1, 2]
    restart = [r["body"] for r in fake.requests if r["method"] == "POST"][-1]["restart"]
    assert restart["steps"]["STEP-1"]["batch-status"] == "completed"
    # attempt 1's late events are refused by seq; attempt 2's applied
    answer = events(client, execution_id, [
        ("log", {"step": "STEP-2", "message": "late"}),
        ("execution", {"status": "failed", "exit-status": "LATE"})], attempt=1, first_seq=7)
    assert answer == {"applied": 0, "refused": [7, 8]}
    answer = trusted(client, "a-1").events([
        {"seq": 9, "type": "execution", "execution-id": execution_id, "attempt": 1,
         "status": "failed", "time": rfc3339(utcnow())},
        {"seq": 10, "type": "execution", "execution-id": execution_id, "attempt": 2,
         "status": "starting", "time": rfc3339(utcnow())},
        {"seq": 11, "type": "execution", "execution-id": execution_id, "attempt": 2,
         "status": "started", "time": rfc3339(utcnow())}]).json
    assert answer == {"applied": 2, "refused": [9]}
    assert execution(bus, execution_id).batch_status is S.STARTED
    assert heartbeat(client, fake, running=[(execution_id, 2)])["moved"] == []
    # another agent's events about it are refused too
    heartbeat(client, fake, "a-2")
    other = events(client, execution_id, [("execution", {"status": "completed"})],
                   instance_id="a-2", attempt=2, first_seq=1)
    assert other == {"applied": 0, "refused": [1]}
    assert execution(bus, execution_id).batch_status is S.STARTED


def test_events_without_an_attempt_are_attempt_1(bus, client, fake, app_dir):
    deploy(client, app_dir)
    heartbeat(client, fake)
    execution_id = submit(client)
    wait_status(bus, execution_id, S.QUEUED)
    answer = trusted(client, "a-1").events([
        {"seq": 1, "type": "execution", "execution-id": execution_id, "status": "starting",
         "time": rfc3339(utcnow())}]).json
    assert answer == {"applied": 1, "refused": []}


@pytest.mark.parametrize("reason, why", [("drain", "drained"), ("fence", "fenced")])
def test_an_execution_its_agent_stopped_by_itself_restarts_as_the_next_attempt(
        bus, client, fake, app_dir, reason, why):
    execution_id = started_on_agent(bus, client, fake, app_dir)
    answer = events(client, execution_id, [
        ("step-ended", {"step": "STEP-2", "status": "stopped", "exit-status": "STOPPED"}),
        ("execution", {"status": "stopped", "exit-status": "STOPPED", "reason": reason,
                       "restart-position": "STEP-2"})], first_seq=7)
    assert answer == {"applied": 2, "refused": []}
    moved = execution(bus, execution_id)
    assert (moved.batch_status, moved.attempt) in ((S.UNDISPATCHED, 2), (S.QUEUED, 2))
    logs = [record.message for record in bus.storage.list_logs(execution_id)]
    assert f"moved from agent agent-a-1 ({why}) as attempt 2" in logs
    # the stopped step resumes from its checkpoint, not counted as a new start
    data = restart_data(bus.storage, execution(bus, execution_id))
    assert data["steps"]["STEP-2"]["batch-status"] == "stopped"
    assert data["steps"]["STEP-2"]["start-count"] == 0


def test_a_drained_execution_of_a_non_restartable_job_stays_stopped(bus, client, fake,
                                                                     app_dir):
    execution_id = started_on_agent(bus, client, fake, app_dir, restartable=False)
    events(client, execution_id, [("execution", {"status": "stopped", "exit-status": "STOPPED",
                                                 "reason": "drain"})], first_seq=7)
    stopped = execution(bus, execution_id)
    assert (stopped.batch_status, stopped.attempt) == (S.STOPPED, 1)


def test_a_queued_execution_its_agent_does_not_have_goes_back_as_the_next_attempt(
        bus, client, fake, app_dir):
    deploy(client, app_dir)
    heartbeat(client, fake)
    execution_id = submit(client)
    wait_status(bus, execution_id, S.QUEUED, attempt=1)
    # no event comes; asked, the FAKE agent answers 404: it goes back to waiting, attempt 2,
    # and (the agent being ready) is handed out again as attempt 2
    wait_until(lambda: execution(bus, execution_id).attempt >= 2, 15,
               what="the execution to move")
    asked = [r["path"] for r in fake.requests if r["method"] == "GET"]
    assert asked[0] == f"/executions/{execution_id}?attempt=1"
    logs = [record.message for record in bus.storage.list_logs(execution_id)]
    assert any(message.startswith("moved from agent agent-a-1 (it does not have it) as "
                                  "attempt 2") for message in logs)


def test_a_queued_execution_its_agent_has_is_left_alone(bus, client, fake, app_dir):
    deploy(client, app_dir)
    heartbeat(client, fake)
    execution_id = submit(client)
    fake.answers[("GET", f"/executions/{execution_id}?attempt=1")] = (
        200, {"execution-id": execution_id, "attempt": 1, "state": "held"})
    wait_status(bus, execution_id, S.QUEUED, attempt=1)
    wait_until(lambda: sum(r["method"] == "GET" for r in fake.requests) >= 2, 15,
               what="the agent to be asked twice")
    still = execution(bus, execution_id)
    assert (still.batch_status, still.attempt) == (S.QUEUED, 1)


def test_requeue_is_guarded_on_status_and_attempt(storage, job):
    """On each backend: one statement moves it back as the next attempt, or nothing."""
    from tests.unit.conftest import T0
    app, name = job
    created = storage.create_execution(app, name, {}, T0)
    [queued] = storage.claim_executions("agent-a", T0, 1)
    assert (queued.attempt, queued.agent_id) == (1, "agent-a")
    assert storage.executions_queued_before(T0 + timedelta(seconds=1))[0].id == created.id
    assert storage.executions_queued_before(T0) == []
    assert storage.requeue_execution(created.id, 2, (S.QUEUED,)) is None  # not its attempt
    assert storage.requeue_execution(created.id, 1, (S.STARTED,)) is None  # not its status
    moved = storage.requeue_execution(created.id, 1, (S.QUEUED,))
    assert (moved.batch_status, moved.attempt, moved.agent_id) == (S.UNDISPATCHED, 2, None)
    assert storage.requeue_execution(created.id, 1, (S.UNDISPATCHED,)) is None  # once
    [again] = storage.claim_executions("agent-b", T0, 1)
    assert (again.attempt, again.agent_id) == (2, "agent-b")
    assert storage.executions_queued_before(T0 + timedelta(seconds=1))[0].attempt == 2
