"""``/{app}/test-executions`` and ``/test-execution/{id}``: dry runs (``jsbus.dryrun``), the
original's test mode, on a job document of any form the bus reads."""
from __future__ import annotations

from typing import Any

import falcon

from jsbus.api import render
from jsbus.api.jobs import parse_job
from jsbus.dryrun import DryRunner, TestExecution
from jsbus.jsl import job_to_document


def test_execution(value: TestExecution) -> dict[str, Any]:
    """The original's state map (``batch-status``, ``log-message``, ``log-exception``), with
    the ``test-execution/`` namespace and what ours adds: the agent, the times, the steps."""
    agent = None
    if value.agent_id:
        agent = {"agent/instance-id": value.agent_id, "agent/name": value.agent_name}
    steps = [{"step-execution/step-name": step.get("name"),
              "step-execution/batch-status": f"batch-status/{step.get('batch-status')}",
              "step-execution/exit-status": step.get("exit-status"),
              "step-execution/start-time": step.get("start-time"),
              "step-execution/end-time": step.get("end-time")} for step in value.steps]
    return {"test-execution/id": value.id, "test-execution/app": value.app,
            "test-execution/job-name": value.job,
            "test-execution/batch-status": value.batch_status.ident,
            "test-execution/exit-status": value.exit_status,
            "test-execution/agent": agent,
            "test-execution/create-time": render.rfc3339(value.created_at),
            "test-execution/start-time": render.rfc3339(value.start_time),
            "test-execution/end-time": render.rfc3339(value.end_time),
            "test-execution/step-executions": steps,
            "test-execution/messages": list(value.messages),
            "test-execution/log-message": "\n".join(value.messages) or None,
            "test-execution/log-exception": value.exception}


class TestExecutionsResource:
    """``POST /{app}/test-executions``: the body is a job document (JSON, EDN or Job XML by
    ``Content-Type``, read and checked as ``POST /{app}/jobs`` does); ``201`` at once with the
    test execution (``starting``, or ``failed`` when no agent can run it)."""

    __test__ = False  # not a pytest test class

    def __init__(self, bus, runner: DryRunner):
        self.bus = bus
        self.runner = runner

    def on_post(self, req: falcon.Request, resp: falcon.Response, app: str) -> None:
        self.bus.storage.get_application(app)
        definition = parse_job(self.bus, req)
        test = self.runner.start(app, job_to_document(definition), definition.id)
        resp.status = falcon.HTTP_201
        resp.location = f"/test-execution/{test.id}"
        resp.media = test_execution(test)


class TestExecutionResource:
    """``GET`` and ``DELETE /test-execution/{id}``."""

    __test__ = False  # not a pytest test class

    def __init__(self, runner: DryRunner):
        self.runner = runner

    def on_get(self, req: falcon.Request, resp: falcon.Response, test_id: int) -> None:
        resp.media = test_execution(self.runner.get(test_id))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, test_id: int) -> None:
        self.runner.delete(test_id)
        resp.status = falcon.HTTP_204


def install(app: falcon.App, bus) -> DryRunner:
    """Route the dry-run resources over one :class:`DryRunner` of ``bus``; returns it."""
    runner = DryRunner(bus)
    app.add_route("/{app}/test-executions", TestExecutionsResource(bus, runner))
    app.add_route("/test-execution/{test_id:int}", TestExecutionResource(runner))
    return runner
