"""Dry runs for real: a ``jsbus serve`` and a ``jsagent`` on loopback. A job whose components
would fail or do not exist completes and runs none of them; a structural error is refused or
fails with a clear message; a dead agent fails the dry run, never leaves it running."""
from __future__ import annotations

import pytest

from jsbus.launch import start_agent, wait_until
from tests.e2e.helpers import deploy, wait_for_agents
from tests.e2e import api

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
FINAL = ("batch-status/completed", "batch-status/failed", "batch-status/stopped")


def dry_run(url: str, document: dict, app: str = "e2e") -> dict:
    """POST the document; the test execution once it ended."""
    created = api.post(f"{url}/{app}/test-executions", json=document, timeout=10)
    assert created.status_code == 201, created.text
    assert created.json()["test-execution/batch-status"] in (
        "batch-status/starting", "batch-status/started", "batch-status/failed")
    location = url + created.headers["location"]

    def ended():
        body = api.get(location, timeout=10).json()
        return body if body["test-execution/batch-status"] in FINAL else None
    return wait_until(ended, 90, interval=0.1, what=f"dry run {location} to end")


def test_components_that_would_fail_or_do_not_exist_are_not_run(running_bus, running_agent,
                                                                 tmp_path):
    url = running_bus
    deploy(url)
    agent = wait_for_agents(url)[0]
    touched, written = tmp_path / "touched", tmp_path / "written"
    document = {"id": "DRY-1", "listeners": [{"ref": "nowhere.Listener"}], "steps": [
        {"id": "boom", "batchlet": {"ref": "e2e_batch.Boom"}},
        {"id": "missing", "batchlet": {"ref": "nowhere.Missing"}},
        {"id": "shell", "batchlet": {"ref": "shell",
                                     "properties": {"command": f"touch {touched}"}}},
        {"id": "chunky", "chunk": {"reader": {"ref": "e2e_batch.NumberReader"},
                                   "writer": {"ref": "e2e_batch.LineWriter",
                                              "properties": {"path": str(written)}}}}]}
    state = dry_run(url, document)
    assert state["test-execution/batch-status"] == "batch-status/completed", state
    assert state["test-execution/agent"]["agent/instance-id"] == agent["agent/instance-id"]
    assert [(s["step-execution/step-name"], s["step-execution/batch-status"])
            for s in state["test-execution/step-executions"]] == [
        ("boom", "batch-status/completed"), ("missing", "batch-status/completed"),
        ("shell", "batch-status/completed"), ("chunky", "batch-status/completed")]
    assert state["test-execution/start-time"] and state["test-execution/end-time"]
    assert not touched.exists() and not written.exists()
    # Nothing of it is an execution of the bus, and it stays readable until deleted.
    assert api.get(f"{url}/e2e/jobs", timeout=10).json()["hits"] == 0
    location = f"{url}/test-execution/{state['test-execution/id']}"
    assert api.delete(location, timeout=10).status_code == 204
    assert api.get(location, timeout=10).status_code == 404


def test_structural_errors_are_refused_or_fail_with_a_clear_message(running_bus,
                                                                    running_agent):
    url = running_bus
    deploy(url)
    wait_for_agents(url)
    loop = {"id": "LOOP", "steps": [{"id": "a", "batchlet": {"ref": "x.Y"}, "next": "b"},
                                    {"id": "b", "batchlet": {"ref": "x.Y"}, "next": "a"}]}
    refused = api.post(f"{url}/e2e/test-executions", json=loop, timeout=10)
    assert refused.status_code == 400
    assert any("make a loop a -> b -> a" in m for m in refused.json()["messages"])
    nowhere = {"id": "NOWHERE", "steps": [{"id": "a", "batchlet": {"ref": "x.Y"},
                                           "next": "ghost"}]}
    refused = api.post(f"{url}/e2e/test-executions", json=nowhere, timeout=10)
    assert refused.status_code == 400
    assert refused.json()["messages"] == ["step a: next 'ghost' is not an element of the job"]
    # Static rules pass, but the path the job takes with every step completed ends in a fail.
    dead_end = {"id": "DEAD-END", "steps": [
        {"id": "load", "batchlet": {"ref": "x.Load"}, "next": "check"},
        {"type": "decision", "id": "check", "ref": "x.Check",
         "transitions": [{"on": "RETRY", "action": "next", "to": "load-again"},
                         {"on": "*", "action": "fail", "exit-status": "CHECK-FELL-THROUGH"}]},
        {"id": "load-again", "batchlet": {"ref": "x.Load"}}]}
    state = dry_run(url, dead_end)
    assert state["test-execution/batch-status"] == "batch-status/failed"
    assert state["test-execution/exit-status"] == "CHECK-FELL-THROUGH"
    assert state["test-execution/log-message"] == "the job ended failed: CHECK-FELL-THROUGH"
    assert [s["step-execution/step-name"] for s in state["test-execution/step-executions"]] == [
        "load"]


def test_a_dead_agent_fails_the_dry_run(running_bus, tmp_path):
    url = running_bus
    deploy(url)
    process, _ = start_agent(tmp_path, url, name="short-lived")
    try:
        wait_for_agents(url)
    finally:
        process.stop()
    state = dry_run(url, {"id": "J", "steps": [{"id": "a", "batchlet": {"ref": "x.Y"}}]})
    assert state["test-execution/batch-status"] == "batch-status/failed"
    message = state["test-execution/log-message"]
    assert ("could not run on agent short-lived" in message
            or message == "No agent available"), message
