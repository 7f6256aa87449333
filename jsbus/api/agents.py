"""``/agents``, ``/agent/{id}`` (with ``block``, ``unblock``, ``monitor/{type}``) for people;
``/agent/{id}/heartbeat|events`` for agents."""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import falcon

from jsbus.agentauth import NotSigned, parse_public_key
from jsbus.api import render
from jsbus.api.media import loads_json, read_body, require_type
from jsbus.errors import StorageError, ValidationError
from jsbus.model import AgentInfo, utcnow
from jsbus.wire import agent_from_document, parse_events, parse_running, parse_time

log = logging.getLogger(__name__)

# The figures of ``agent/stats`` (docs/protocol.md) the monitor keeps, by type and group: the
# original's RRD graphs (free physical and swap memory; process and system CPU load), with the
# totals and the rest of the same groups.
MONITOR_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "memory": {"physical": ("free", "total"), "swap": ("free", "total")},
    "cpu": {"process": ("load", "time"), "system": ("load", "load-average")},
}


def monitor_sample(stats: dict[str, Any]) -> dict[str, Any]:
    """The monitored figures of an agent's stats, numbers only: whatever else an agent sends
    never grows its history."""
    sample = {}
    for kind, groups in MONITOR_FIELDS.items():
        figures = _figures(stats.get(kind), groups)
        if figures:
            sample[kind] = figures
    return sample


def _figures(section: Any, groups: dict[str, tuple[str, ...]]) -> dict[str, dict[str, Any]]:
    if not isinstance(section, dict):
        return {}
    kept = {}
    for group, keys in groups.items():
        values = section.get(group)
        if isinstance(values, dict):
            numbers = {key: values[key] for key in keys
                       if isinstance(values.get(key), (int, float))
                       and not isinstance(values.get(key), bool)}
            if numbers:
                kept[group] = numbers
    return kept


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
                      "agent/enrollment": self.bus.trust.state(instance_id),
                      "agent/executions": [render.execution(e) for e in recent]}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, instance_id: str) -> None:
        """Revoke the agent: no more work, its heartbeats and events get 403, its secret is
        deleted. The agent stays listed, ``revoked``."""
        agent = self.bus.trust.revoke(instance_id)
        resp.media = {**render.agent(agent), "agent/enrollment": self.bus.trust.state(instance_id)}


class AgentBlockResource:
    """``PUT /agent/{id}/block`` or ``/unblock`` (idempotent): a blocked agent runs what it has
    and heartbeats on, but the bus dispatches nothing new to it until it is unblocked."""

    def __init__(self, bus, blocked: bool):
        self.bus = bus
        self.blocked = blocked

    def on_put(self, req: falcon.Request, resp: falcon.Response, instance_id: str) -> None:
        resp.media = render.agent(self.bus.set_agent_blocked(instance_id, self.blocked))


class AgentMonitorResource:
    """``GET /agent/{id}/monitor/{type}?since=&limit=``: the agent's memory or CPU history,
    oldest first; ``since`` (RFC 3339) keeps the samples taken from then on, ``limit`` the
    newest so many."""

    def __init__(self, bus):
        self.bus = bus

    def on_get(self, req: falcon.Request, resp: falcon.Response, instance_id: str,
               kind: str) -> None:
        storage = self.bus.storage
        storage.get_agent(instance_id)
        if kind not in MONITOR_FIELDS:
            raise ValidationError(f"type must be one of {', '.join(MONITOR_FIELDS)}, "
                                  f"not {kind!r}")
        since = req.get_param("since")
        if since is not None:
            # An unescaped "+" of an offset arrives as a space.
            since = parse_time(since.replace(" ", "+") if "T" in since else since, "since")
        limit = req.get_param_as_int("limit", min_value=1)
        if limit is not None:
            limit = min(limit, self.bus.config.get("monitor.max_samples"))
        samples = storage.agent_samples(instance_id, since, limit)
        resp.media = render.agent_monitor(instance_id, kind, samples)


class HeartbeatResource:
    """Agents report themselves here (docs/protocol.md); a heartbeat also feeds the monitor."""

    def __init__(self, bus):
        self.bus = bus

    def on_post(self, req: falcon.Request, resp: falcon.Response, instance_id: str) -> None:
        raw, body = read_signed_object(req, self.bus.config.get("bus.max_body_bytes"))
        public_key = parse_public_key(body.get("agent/public-key"))
        try:
            trusted = self.bus.trust.check(req, instance_id, raw)
        except NotSigned as exc:
            self.bus.trust.refused_key(instance_id, public_key)
            raise unauthorized(exc) from None
        agent = agent_from_document(instance_id, body, utcnow())
        running = parse_running(body) if trusted is not None else None
        enrollment = {} if trusted else self.bus.trust.unsigned_heartbeat(
            instance_id, public_key, body.get("agent/join-token"))
        resp.media = {**self.bus.record_heartbeat(agent, trusted=trusted is not None,
                                                  running=running,
                                                  draining=body.get("agent/draining") is True),
                      **enrollment}
        if trusted is not None:  # an agent nobody trusts does not grow the monitor's history
            self._record_sample(agent)

    def _record_sample(self, agent: AgentInfo) -> None:
        """Keep the heartbeat's figures (every ``monitor.interval`` seconds at most). The
        heartbeat is stored already: a sample that cannot be is only logged."""
        config = self.bus.config
        values, max_samples = monitor_sample(agent.stats), config.get("monitor.max_samples")
        if not values or max_samples < 1:
            return
        retention = timedelta(seconds=config.get("monitor.retention"))
        try:
            self.bus.storage.record_agent_sample(
                agent.instance_id, agent.last_seen, values, max_samples=max_samples,
                oldest=agent.last_seen - retention, spacing=config.get("monitor.interval"))
        except StorageError as exc:
            log.warning("could not keep a stats sample of agent %s: %s", agent.instance_id, exc)


class EventsResource:
    """Agents send execution events here, in order; the answer means they are stored."""

    def __init__(self, bus):
        self.bus = bus

    def on_post(self, req: falcon.Request, resp: falcon.Response, instance_id: str) -> None:
        # Event batches may be larger than user documents: allow 8x the body limit.
        raw, body = read_signed_object(req, 8 * self.bus.config.get("bus.max_body_bytes"))
        try:
            trusted = self.bus.trust.check(req, instance_id, raw)
        except NotSigned as exc:
            raise unauthorized(exc) from None
        if trusted is None:  # before any lookup: an unsigned request learns nothing
            raise unauthorized(f"agent {instance_id} is not enrolled: its events must be signed")
        self.bus.storage.get_agent(instance_id)
        resp.media = self.bus.receive_events(instance_id, parse_events(body))


def read_signed_object(req: falcon.Request, limit: int) -> tuple[bytes, dict[str, Any]]:
    """The raw JSON body (what a signature covers) and the object it holds."""
    require_type(req, ("application/json",))
    raw = read_body(req, limit)
    body = loads_json(raw)
    if not isinstance(body, dict):
        raise falcon.HTTPBadRequest(title="Bad request", description="the body must be a JSON "
                                                                     "object")
    return raw, body


def unauthorized(reason: object) -> falcon.HTTPUnauthorized:
    return falcon.HTTPUnauthorized(title="Unauthorized", description=str(reason))

