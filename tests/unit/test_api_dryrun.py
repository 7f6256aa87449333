"""``/{app}/test-executions`` and ``/test-execution/{id}`` through falcon's TestClient over a real
Bus on a real SQLite file: created, read, deleted, refused; no agent, a blocked agent and an
agent that does not answer; the deadline that ends a dry run whose bus process died. Every
answer is checked against the OpenAPI document's schema. (A dry run on a real agent:
``tests/e2e/test_dryrun.py``.)"""
from __future__ import annotations

import socket
from dataclasses import replace
from datetime import timedelta

import falcon.testing
import pytest

from jsbus.dryrun import LOST, NO_AGENT, NO_AGENT_HINT, DryRunner, deadline_for
from jsbus.launch import wait_until
from jsbus.model import AgentInfo, BatchStatus, utcnow
from tests.unit.test_openapi import Answers, make_app
from tests.conftest import admin_headers

pytestmark = pytest.mark.timeout(60)

JOB = {"id": "DRY", "steps": [{"id": "a", "batchlet": {"ref": "nowhere.Missing"}, "next": "b"},
                              {"id": "b", "chunk": {"reader": {"ref": "x.R"},
                                                    "writer": {"ref": "x.W"}}}]}
POST = "/{app}/test-executions"
ONE = "/test-execution/{test_id}"


@pytest.fixture
def app(bus):
    return make_app(bus)


@pytest.fixture
def client(app, bus):
    return falcon.testing.TestClient(app, headers=admin_headers(bus))


@pytest.fixture
def answers(client):
    return Answers(client, client.simulate_get("/openapi.json").json,
                   client.simulate_get("/schemas/job.json").json)


@pytest.fixture
def shop(client, app_dir):
    response = client.simulate_post("/apps", json={"name": "shop", "description": "test",
                                                   "classpath": [app_dir.as_uri()]})
    assert response.status_code == 201, response.json
    return "shop"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def agent(bus, instance_id="a-1", **changes) -> AgentInfo:
    info = AgentInfo(**{"instance_id": instance_id, "name": f"agent-{instance_id}",
                        "host": "127.0.0.1", "port": closed_port(), "capacity": 2,
                        "last_seen": utcnow(), **changes})
    return bus.storage.save_agent(info)


def test_no_agent_fails_at_once_with_the_originals_messages(answers, shop):
    body = answers.check("post", POST, f"/{shop}/test-executions", 201, json=JOB)
    assert body["test-execution/batch-status"] == "batch-status/failed"
    assert body["test-execution/log-message"] == NO_AGENT
    assert body["test-execution/log-exception"] == NO_AGENT_HINT
    assert body["test-execution/job-name"] == "DRY"
    test_id = body["test-execution/id"]
    again = answers.check("get", ONE, f"/test-execution/{test_id}", 200)
    assert again == body
    second = answers.check("post", POST, f"/{shop}/test-executions", 201, json=JOB)
    assert second["test-execution/id"] == test_id + 1


def test_location_get_and_delete(answers, client, shop):
    response = client.simulate_post(f"/{shop}/test-executions", json=JOB)
    assert response.status_code == 201
    location = response.headers["location"]
    assert location == f"/test-execution/{response.json['test-execution/id']}"
    assert client.simulate_delete(location).status_code == 204
    answers.check("get", ONE, location, 404)
    answers.check("delete", ONE, location, 404)


def test_refusals_are_the_job_registrations(answers, shop):
    check = answers.check
    assert check("post", POST, "/nope/test-executions", 404, json=JOB)["messages"] == [
        "application 'nope' not found"]
    check("post", POST, f"/{shop}/test-executions", 415, body="x",
          headers={"content-type": "text/plain"})
    check("post", POST, f"/{shop}/test-executions", 400, body="{not json",
          headers={"content-type": "application/json"})
    loop = {"id": "LOOP", "steps": [{"id": "a", "batchlet": {"ref": "x.Y"}, "next": "b"},
                                    {"id": "b", "batchlet": {"ref": "x.Y"}, "next": "a"}]}
    messages = check("post", POST, f"/{shop}/test-executions", 400, json=loop)["messages"]
    assert any("make a loop a -> b -> a" in message for message in messages)
    assert check("get", ONE, "/test-execution/12345", 404)["messages"] == [
        "test execution 12345 not found"]


def test_edn_and_xml_documents_are_read_too(client, shop):
    edn = '{:id "EDN-JOB" :steps [{:id "s" :batchlet {:ref "x.Y"}}]}'
    response = client.simulate_post(f"/{shop}/test-executions", body=edn,
                                    headers={"content-type": "application/edn"})
    assert response.status_code == 201, response.text
    xml = ('<job id="XML-JOB" xmlns="https://jakarta.ee/xml/ns/jakartaee" version="2.0">'
           '<step id="s"><batchlet ref="x.Y"/></step></job>')
    response = client.simulate_post(f"/{shop}/test-executions", body=xml,
                                    headers={"content-type": "application/xml"})
    assert response.status_code == 201, response.text
    assert client.simulate_get(response.headers["location"]).json[
        "test-execution/job-name"] == "XML-JOB"


def test_blocked_and_lost_agents_are_not_used(bus, client, shop):
    bus.storage.set_agent_blocked(agent(bus, "blocked").instance_id, True)
    agent(bus, "stale", last_seen=utcnow() - timedelta(hours=1))
    body = client.simulate_post(f"/{shop}/test-executions", json=JOB).json
    assert body["test-execution/log-message"] == NO_AGENT


def test_an_agent_that_does_not_answer_fails_the_dry_run_with_why(bus, client, shop):
    silent = agent(bus, "silent")
    body = client.simulate_post(f"/{shop}/test-executions", json=JOB).json
    assert body["test-execution/batch-status"] == "batch-status/starting"
    location = f"/test-execution/{body['test-execution/id']}"

    def ended():
        state = client.simulate_get(location).json
        return state if state["test-execution/batch-status"] == "batch-status/failed" else None
    state = wait_until(ended, 30, interval=0.05, what="the dry run to fail")
    assert state["test-execution/agent"] == {"agent/instance-id": silent.instance_id,
                                             "agent/name": silent.name}
    assert "could not run on agent agent-silent" in state["test-execution/log-message"]
    assert state["test-execution/start-time"] and state["test-execution/end-time"]


def test_a_dry_run_past_its_deadline_fails_whichever_process_reads_it(bus, client, shop):
    """As after a bus process died mid-run: the row says started and nobody will finish it."""
    now = utcnow()
    test = bus.storage.create_test_execution(shop, "DRY", JOB, now, deadline_for(now, 60))
    assert bus.storage.start_test_execution(test.id, "a-1", "agent-a-1", now)
    assert client.simulate_get(f"/test-execution/{test.id}").json[
        "test-execution/batch-status"] == "batch-status/started"
    later = DryRunner(bus, clock=lambda: now + timedelta(seconds=60 + 41))
    expired = later.get(test.id)
    assert expired.batch_status is BatchStatus.FAILED and expired.messages == [LOST]
    # An outcome arriving afterwards does not overwrite it, nor does a second sweep.
    assert not bus.storage.finish_test_execution(test.id, BatchStatus.COMPLETED, now)
    assert later.expire() == 0


def test_the_state_survives_a_new_bus_on_the_same_database(bus, bus_config, shop):
    now = utcnow()
    test = bus.storage.create_test_execution(shop, "DRY", JOB, now, deadline_for(now, 60))
    bus.storage.finish_test_execution(test.id, BatchStatus.COMPLETED, now, exit_status="DONE",
                                      steps=[{"name": "a", "batch-status": "completed"}])
    bus.stop()
    from jsbus.bus import Bus
    other = Bus(bus_config)
    other.start()
    try:
        stored = other.storage.get_test_execution(test.id)
        assert replace(stored) == replace(test, batch_status=BatchStatus.COMPLETED,
                                          end_time=stored.end_time, exit_status="DONE",
                                          steps=[{"name": "a", "batch-status": "completed"}])
    finally:
        other.stop()
        bus.start()


# -- the storage methods, on every backend (``storage``: tests/unit/conftest.py) -----------------

def test_test_execution_rows_move_only_forward(storage):
    from jsbus.dryrun import TestExecutionNotFound
    from jsbus.errors import ApplicationNotFound
    from jsbus.model import Application
    from .conftest import T0
    storage.save_application(Application("demo", "a demo", ("file:///srv/demo",)))
    with pytest.raises(ApplicationNotFound):
        storage.create_test_execution("nope", "DRY", JOB, T0, deadline_for(T0, 60))
    first = storage.create_test_execution("demo", "DRY", JOB, T0, deadline_for(T0, 60))
    second = storage.create_test_execution("demo", "DRY", JOB, T0, deadline_for(T0, 1))
    assert (first.batch_status, first.document, first.steps, first.messages) == (
        BatchStatus.STARTING, JOB, [], [])
    assert second.id == first.id + 1 and first.created_at == T0
    assert storage.start_test_execution(first.id, "a-1", "agent-a", T0)
    assert not storage.start_test_execution(first.id, "a-2", "agent-b", T0)
    steps = [{"name": "a", "batch-status": "completed", "exit-status": "COMPLETED"}]
    assert storage.finish_test_execution(first.id, BatchStatus.FAILED, T0 + timedelta(seconds=1),
                                         exit_status="X", steps=steps, messages=["m"],
                                         exception="trace")
    assert not storage.finish_test_execution(first.id, BatchStatus.COMPLETED, T0)
    with pytest.raises(ValueError):
        storage.finish_test_execution(second.id, BatchStatus.STARTED, T0)
    done = storage.get_test_execution(first.id)
    assert (done.batch_status, done.agent_id, done.agent_name, done.start_time, done.end_time,
            done.exit_status, done.steps, done.messages, done.exception) == (
        BatchStatus.FAILED, "a-1", "agent-a", T0, T0 + timedelta(seconds=1), "X", steps, ["m"],
        "trace")
    assert storage.expire_test_executions(T0 + timedelta(seconds=60), "lost") == 1
    assert storage.get_test_execution(second.id).messages == ["lost"]
    assert storage.get_test_execution(first.id).messages == ["m"]  # ended before: untouched
    storage.delete_test_execution(first.id)
    with pytest.raises(TestExecutionNotFound):
        storage.get_test_execution(first.id)
    with pytest.raises(TestExecutionNotFound):
        storage.delete_test_execution(first.id)
