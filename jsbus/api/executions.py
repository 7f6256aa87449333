"""``/{app}/job/{job}/executions`` and ``.../execution/{id}``: run a job, watch its executions."""
from __future__ import annotations

import falcon

from jsbus.api import render
from jsbus.api.jobs import page
from jsbus.api.media import read_object
from jsbus.api.notices import send_alert
from jsbus.errors import ExecutionNotFound, ValidationError
from jsbus.model import BatchStatus

MAX_LOGS_SHOWN = 1000


def status_filter(req: falcon.Request) -> set[BatchStatus] | None:
    """``batch-status=started,queued`` (``batch-status/`` prefixes allowed): only those."""
    text = req.get_param("batch-status")
    if text is None:
        return None
    statuses, unknown = set(), []
    for name in filter(None, (part.strip() for part in text.split(","))):
        try:
            statuses.add(BatchStatus(name.lower().removeprefix("batch-status/")))
        except ValueError:
            unknown.append(name)
    if unknown or not statuses:
        known = ", ".join(status.value for status in BatchStatus)
        raise ValidationError([f"batch-status: {', '.join(unknown) or 'empty'} is not a "
                               f"batch status (one or more of {known}, comma-separated)"])
    return statuses


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
        executions, hits = self.bus.storage.list_executions(app, job, offset, limit,
                                                            status_filter(req))
        resp.media = {"results": [render.execution(e) for e in executions], "hits": hits,
                      "limit": limit, "offset": offset}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, app: str, job: str) -> None:
        """Purge the job's history (the original's 204): every ended job instance goes, with
        its steps, checkpoints and logs; instances still running or waiting stay."""
        deleted, kept = self.bus.storage.purge_executions(app, job)
        resp.status = falcon.HTTP_204
        resp.set_header("X-Deleted-Executions", str(deleted))
        resp.set_header("X-Kept-Executions", str(kept))

    def on_post(self, req: falcon.Request, resp: falcon.Response, app: str, job: str) -> None:
        body = read_object(req, self.bus.config.get("bus.max_body_bytes"), optional=True)
        execution = self.bus.submit(app, job, job_parameters(body))
        resp.status = falcon.HTTP_201
        resp.location = f"/{app}/job/{job}/execution/{execution.id}"
        resp.media = render.execution(execution)


def execution_of(bus, app: str, job: str, execution_id: int, with_steps: bool = True):
    """The execution, found only under its own job's path."""
    execution = bus.storage.get_execution(execution_id, with_steps=with_steps)
    if (execution.app, execution.job) != (app, job):
        raise ExecutionNotFound(execution_id)
    return execution


class ExecutionResource:
    def __init__(self, bus):
        self.bus = bus

    def on_get(self, req: falcon.Request, resp: falcon.Response, app: str, job: str,
               execution_id: int) -> None:
        execution = execution_of(self.bus, app, job, execution_id)
        logs = self.bus.storage.list_logs(execution_id, 0, MAX_LOGS_SHOWN)
        resp.media = render.execution(execution, logs)


class ExecutionCommandResource:
    """``PUT .../execution/{id}/restart|stop|abandon|alert`` and ``GET .../execution/{id}/logs``."""

    COMMANDS = ("restart", "stop", "abandon", "alert")

    def __init__(self, bus):
        self.bus = bus

    def on_put(self, req: falcon.Request, resp: falcon.Response, app: str, job: str,
               execution_id: int, command: str) -> None:
        if command not in self.COMMANDS:
            raise falcon.HTTPNotFound(description=f"unknown command {command!r}; use "
                                                  f"{', '.join(self.COMMANDS)}")
        execution = execution_of(self.bus, app, job, execution_id, with_steps=False)
        if command == "restart":
            body = read_object(req, self.bus.config.get("bus.max_body_bytes"), optional=True)
            restarted = self.bus.restart(app, job, execution_id, job_parameters(body))
            resp.status = falcon.HTTP_201
            resp.location = f"/{app}/job/{job}/execution/{restarted.id}"
            resp.media = render.execution(restarted)
            return
        if command == "alert":
            send_alert(self.bus, execution)
            resp.status = falcon.HTTP_202
            resp.media = render.execution(execution)
            return
        action = self.bus.stop_execution if command == "stop" else self.bus.abandon_execution
        resp.status = falcon.HTTP_202 if command == "stop" else falcon.HTTP_200
        resp.media = render.execution(action(execution))

    def on_get(self, req: falcon.Request, resp: falcon.Response, app: str, job: str,
               execution_id: int, command: str) -> None:
        if command != "logs":
            raise falcon.HTTPNotFound(description=f"no such resource: {req.path}")
        execution_of(self.bus, app, job, execution_id, with_steps=False)
        offset, limit = page(req)
        step = req.get_param("step") or None
        storage = self.bus.storage
        records = storage.list_logs(execution_id, offset, limit, step_name=step)
        resp.media = {"results": [dict(render.log_record(r), **{"execution-log/step-name":
                                                                r.step_name}) for r in records],
                      "hits": storage.count_logs(execution_id, step_name=step),
                      "limit": limit, "offset": offset}
