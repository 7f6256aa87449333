"""Restart, stop, abandon and logs through the REST API, with real bus and agent processes."""
import pytest

from tests.e2e.helpers import deploy, run_to_end, wait_for_agents, wait_for_status
from tests.e2e import api

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def register_document(url, document, app="e2e"):
    response = api.post(f"{url}/{app}/jobs", json=document, timeout=10)
    assert response.status_code in (200, 201), response.text


def command(url, execution, name, body=None):
    path = (f"{url}/{execution['job-execution/app']}/job/{execution['job-execution/job-name']}"
            f"/execution/{execution['job-execution/execution-id']}/{name}")
    return api.put(path, json=body if body is not None else {}, timeout=10)


def step_names(execution):
    return [s["step-execution/step-name"] for s in execution["job-execution/step-executions"]]


def test_restart_resumes_at_the_failed_step_of_the_same_instance(running_bus, running_agent,
                                                                 tmp_path):
    url = running_bus
    wait_for_agents(url)
    deploy(url)
    register_document(url, {"id": "FLAKY", "steps": [
        {"id": "first", "batchlet": {"ref": "e2e_batch.Greet"}},
        {"id": "flaky", "batchlet": {"ref": "e2e_batch.FailsOnce",
                                     "properties": {"marker": str(tmp_path / "marker")}}},
        {"id": "last", "batchlet": {"ref": "e2e_batch.Count"}}]})
    failed = run_to_end(url, "FLAKY", params={"run": "1"})
    assert failed["job-execution/batch-status"] == "batch-status/failed"
    assert failed["job-execution/restart-position"] == "flaky"
    created = command(url, failed, "restart", {"run": "2"})
    assert created.status_code == 201, created.text
    restarted = created.json()
    assert restarted["job-execution/batch-status"] == "batch-status/unrestarted"
    assert restarted["job-execution/restarted-from"] == failed["job-execution/execution-id"]
    assert restarted["job-execution/job-instance-id"] == failed["job-execution/job-instance-id"]
    done = wait_for_status(url + created.headers["location"])
    assert done["job-execution/batch-status"] == "batch-status/completed"
    assert done["job-execution/job-parameters"] == {"run": "2"}
    assert step_names(done) == ["flaky", "last"], "a completed step is not run again"
    # a completed execution, or one that is not the latest of its instance, cannot restart
    assert command(url, done, "restart").status_code == 409
    again = command(url, failed, "restart")
    assert again.status_code == 409 and "not the latest" in again.json()["messages"][0]


def test_a_job_that_is_not_restartable_refuses(running_bus, running_agent):
    url = running_bus
    wait_for_agents(url)
    deploy(url)
    register_document(url, {"id": "ONCE", "restartable": False,
                            "steps": [{"id": "boom", "batchlet": {"ref": "e2e_batch.Boom"}}]})
    failed = run_to_end(url, "ONCE")
    refused = command(url, failed, "restart")
    assert refused.status_code == 409 and "not restartable" in refused.json()["messages"][0]


def test_stop_a_running_batchlet_then_restart_it(running_bus, running_agent):
    url = running_bus
    wait_for_agents(url)
    deploy(url)
    register_document(url, {"id": "LONG", "steps": [
        {"id": "wait", "batchlet": {"ref": "e2e_batch.WaitsForStop"}}]})
    created = api.post(f"{url}/e2e/job/LONG/executions", json={}, timeout=10)
    location = url + created.headers["location"]
    running = wait_for_status(location, "batch-status/started")
    stopping = command(url, running, "stop")
    assert stopping.status_code == 202
    assert stopping.json()["job-execution/batch-status"] == "batch-status/stopping"
    stopped = wait_for_status(location)
    assert stopped["job-execution/batch-status"] == "batch-status/stopped"
    assert stopped["job-execution/step-executions"][0]["step-execution/batch-status"] == \
        "batch-status/stopped"
    # abandoned: final, and never restartable
    abandoned = command(url, stopped, "abandon")
    assert abandoned.status_code == 200
    assert abandoned.json()["job-execution/batch-status"] == "batch-status/abandoned"
    assert command(url, stopped, "restart").status_code == 409


def test_abandon_a_running_execution_is_refused(running_bus, running_agent):
    url = running_bus
    wait_for_agents(url)
    deploy(url)
    register_document(url, {"id": "BUSY", "steps": [
        {"id": "wait", "batchlet": {"ref": "e2e_batch.WaitsForStop"}}]})
    created = api.post(f"{url}/e2e/job/BUSY/executions", json={}, timeout=10)
    location = url + created.headers["location"]
    running = wait_for_status(location, "batch-status/started")
    refused = command(url, running, "abandon")
    assert refused.status_code == 409 and "stop it first" in refused.json()["messages"][0]
    assert command(url, running, "stop").status_code == 202
    assert wait_for_status(location)["job-execution/batch-status"] == "batch-status/stopped"


def test_stop_before_dispatch_and_unknown_commands(running_bus):
    url = running_bus  # no agent: the execution waits
    deploy(url)
    register_document(url, {"id": "WAITS", "steps": [
        {"id": "a", "batchlet": {"ref": "e2e_batch.Count"}}]})
    created = api.post(f"{url}/e2e/job/WAITS/executions", json={}, timeout=10).json()
    stopped = command(url, created, "stop")
    assert stopped.status_code == 202
    assert stopped.json()["job-execution/batch-status"] == "batch-status/stopped"
    assert command(url, created, "stop").status_code == 409
    assert command(url, created, "explode").status_code == 404


def test_logs_are_kept_with_their_step_and_paged(running_bus, running_agent):
    url = running_bus
    wait_for_agents(url)
    deploy(url)
    register_document(url, {"id": "TALKS", "steps": [
        {"id": "talk", "batchlet": {"ref": "e2e_batch.Chatty", "properties": {"lines": "25"}}},
        {"id": "greet", "batchlet": {"ref": "e2e_batch.Greet"}}]})
    execution = run_to_end(url, "TALKS")
    base = (f"{url}/e2e/job/TALKS/execution/{execution['job-execution/execution-id']}/logs")
    first = api.get(base, params={"step": "talk", "limit": 10}).json()
    assert first["hits"] == 25 and len(first["results"]) == 10
    assert [r["execution-log/message"] for r in first["results"]][:2] == ["line 0", "line 1"]
    last = api.get(base, params={"step": "talk", "offset": 20, "limit": 10}).json()
    assert [r["execution-log/message"] for r in last["results"]] == \
        [f"line {n}" for n in range(20, 25)]
    assert all(r["execution-log/level"] == "log-level/info" for r in last["results"])
    everything = api.get(base, params={"limit": 1000}).json()
    assert everything["hits"] >= 27
    assert {r["execution-log/step-name"] for r in everything["results"]} == {"talk", "greet"}
    assert api.get(base.replace("/logs", "/gossip")).status_code == 404
