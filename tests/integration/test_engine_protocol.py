"""The worker's side of docs/protocol.md: the start command (with ``restart``), one line of JSON
on stdin, and the shapes of the events the engine writes."""
from __future__ import annotations

import json

import pytest

from jsagent.commands import command_json, parse_start_command
from jsagent.events import EVENT_TYPES
from jsbus.errors import ValidationError
from tests.integration.engine_app.harness import command, step

RESTART = {"previous-execution": 6, "position": "load",
           "steps": {"load": {"batch-status": "failed", "exit-status": "ValueError: bad row",
                              "start-count": 1, "persistent-user-data": None,
                              "metrics": {"read-count": 536}}},
           "checkpoints": {"load": {"-1": {"reader": 500, "writer": None, "done": False,
                                           "persistent-user-data": None, "metrics": {}}}}}


def test_a_start_command_with_a_restart_object_is_parsed_and_sent_as_one_line():
    body = command([step("load", "m.Reader")], parameters={"n": 3}, restart=RESTART)
    parsed = parse_start_command(body)
    assert parsed.restart == RESTART and parsed.parameters == {"n": "3"}
    line = command_json(parsed)
    assert isinstance(line, bytes) and b"\n" not in line
    assert json.loads(line)["restart"] == RESTART
    first_run = parse_start_command(command([step("S", "a.B")]))
    assert "restart" not in json.loads(command_json(first_run))


def test_the_document_is_checked_as_a_job_and_a_bad_restart_is_named():
    body = command([{"id": "S", "chunk": {"reader": {"ref": "a.R"}}},
                    {"type": "nonsense", "id": "X"}], restart={"position": 3, "steps": []})
    with pytest.raises(ValidationError) as caught:
        parse_start_command(body)
    messages = caught.value.messages
    assert messages == [
        "document: step S.chunk: writer must be present",
        "document.steps[1] must be an object whose type is step, flow, split or decision",
        "restart.position must be a string or null",
        "restart.steps must be an object of step names to objects"]


@pytest.mark.timeout(30)
def test_event_shapes_of_a_run(run_job):
    run = run_job(command([step("A", "eapp_batchlets.CountRuns")]))
    assert {event["type"] for event in run.events} <= EVENT_TYPES
    assert all(event["execution-id"] == run.command["execution-id"]
               and event["time"].endswith("Z") for event in run.events)
    ended = run.ended["A"]
    assert ended["metrics"]["read-count"] == 0 and len(ended["metrics"]) == 8
    assert ended["persistent-user-data"] == {"runs": 1}
    assert (run.final["type"], run.final["status"], run.final["exit-status"],
            run.final["restart-position"]) == ("execution", "completed", "COMPLETED", None)


@pytest.mark.timeout(30)
def test_an_invalid_document_fails_the_execution_and_an_agent_refuses_it(run_job):
    body = command([step("A", "eapp_batchlets.Exit")])
    body["document"]["steps"][0]["start-limit"] = "many"
    if run_job.mode == "agent":  # the agent checks the start command first: 400, nothing runs
        execution_id = run_job.agent.fresh_id()
        answer = run_job.agent.http.post("/executions",
                                         json={**body, "execution-id": execution_id})
        assert answer.status_code == 400
        assert answer.json()["messages"] == [
            "document: step A: start-limit must be a whole number >= 0"]
        assert run_job.agent.http.put(f"/executions/{execution_id}/stop").status_code == 404
        return
    run = run_job(body)
    assert run.status == "failed" and "start-limit" in run.exit_status
