"""``/{app}/job/{job}/executions`` and ``.../execution/{id}``: run a job, watch its executions."""
from __future__ import annotations

import falcon

from jsbus.api import render
from jsbus.api.jobs import page
from jsbus.api.media import read_object
from jsbus.errors import ExecutionNotFound, ValidationError

MAX_LOGS_SHOWN = 1000


def job_parameters(body: dict) -> dict[str, str]:
    """JSR-352 job parameters are strings; scalars are accepted and turned into strings."""
    params, messages = {}, []
    for name, value in body.items():
        if isinstance(value, bool):
            params[name] = str(value).lower()
        elif isinstance(value, (str, int, float)):
            params[name] = str(value)
        else:
            messages.append(f"parameters.{name} must be a string, number or boolean")
    if messages:
        raise ValidationError(messages)
    return params


class ExecutionsResource:
    def __init__(self, bus):
        self.bus = bus

    def on_get(self, req: falcon.Request, resp: falcon.Response, app: str, job: str) -> None:
        self.bus.storage.get_job(app, job)
        offset, limit = page(req)
        executions, hits = self.bus.storage.list_executions(app, job, offset, limit)
        resp.media = {"results": [render.execution(e) for e in executions], "hits": hits,
                      "limit": limit, "offset": offset}

    def on_post(self, req: falcon.Request, resp: falcon.Response, app: str, job: str) -> None:
        body = read_object(req, self.bus.config.get("bus.max_body_bytes"), optional=True)
        execution = self.bus.submit(app, job, job_parameters(body))
        resp.status = falcon.HTTP_201
        resp.location = f"/{app}/job/{job}/execution/{execution.id}"
        resp.media = render.execution(execution)


class ExecutionResource:
    def __init__(self, bus):
        self.bus = bus

    def on_get(self, req: falcon.Request, resp: falcon.Response, app: str, job: str,
               execution_id: int) -> None:
        storage = self.bus.storage
        execution = storage.get_execution(execution_id)
        if (execution.app, execution.job) != (app, job):
            raise ExecutionNotFound(execution_id)
        logs = storage.list_logs(execution_id, 0, MAX_LOGS_SHOWN)
        resp.media = render.execution(execution, logs)
