"""``/agents``, ``/agent/{id}`` for people; ``/agent/{id}/heartbeat|events`` for agents."""
from __future__ import annotations

import falcon

from jsbus.api import render
from jsbus.api.media import read_object
from jsbus.model import utcnow
from jsbus.wire import agent_from_document, parse_events


class AgentsResource:
    def __init__(self, bus):
        self.bus = bus

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = [render.agent(agent) for agent in self.bus.storage.list_agents()]


class AgentResource:
    def __init__(self, bus):
        self.bus = bus

    def on_get(self, req: falcon.Request, resp: falcon.Response, instance_id: str) -> None:
        storage = self.bus.storage
        agent = storage.get_agent(instance_id)
        recent = storage.agent_executions(instance_id, 20)
        resp.media = {**render.agent(agent),
                      "agent/executions": [render.execution(e) for e in recent]}


class HeartbeatResource:
    """Agents report themselves here (docs/protocol.md)."""

    def __init__(self, bus):
        self.bus = bus

    def on_post(self, req: falcon.Request, resp: falcon.Response, instance_id: str) -> None:
        body = read_object(req, self.bus.config.get("bus.max_body_bytes"))
        agent = agent_from_document(instance_id, body, utcnow())
        resp.media = self.bus.record_heartbeat(agent)


class EventsResource:
    """Agents send execution events here, in order; the answer means they are stored."""

    def __init__(self, bus):
        self.bus = bus

    def on_post(self, req: falcon.Request, resp: falcon.Response, instance_id: str) -> None:
        # Event batches may be larger than user documents: allow 8x the body limit.
        body = read_object(req, 8 * self.bus.config.get("bus.max_body_bytes"))
        self.bus.storage.get_agent(instance_id)
        resp.media = {"applied": self.bus.record_events(instance_id, parse_events(body))}
