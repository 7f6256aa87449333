"""``/version``, ``/healthcheck`` and ``/{app}/stats``."""
from __future__ import annotations

import json

import falcon

from jsbus import __version__
from jsbus.errors import StorageError
from jsbus.model import AgentStatus
from jsbus.redact import redact_text


class VersionResource:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"version": __version__}


class JobSchemaResource:
    """``GET /schemas/job.json``: the JSON Schema of job documents (``docs/jsl.md``)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        from jsbus.jsl import schema
        resp.text = json.dumps(schema(), indent=2)
        resp.content_type = "application/schema+json"


class HealthResource:
    def __init__(self, bus):
        self.bus = bus

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            self.bus.storage.ping()
        except StorageError as exc:
            resp.status = falcon.HTTP_503
            resp.media = {"status": "unavailable", "messages": [redact_text(str(exc))]}
            return
        resp.media = {"status": "ok", "role": self.bus.role, "version": __version__}


class StatsResource:
    def __init__(self, bus):
        self.bus = bus

    def on_get(self, req: falcon.Request, resp: falcon.Response, app: str) -> None:
        storage = self.bus.storage
        storage.get_application(app)
        _, jobs = storage.list_jobs(app, 0, 1)
        agents = sum(1 for a in storage.list_agents() if a.status is AgentStatus.READY)
        resp.media = {"agents": agents, "jobs": jobs}
