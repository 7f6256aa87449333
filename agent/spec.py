"""The agent document (``GET /spec``, heartbeats) and the host the agent advertises."""
from __future__ import annotations

import os
import platform
import socket
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlparse

from jsbus import __version__
from jsagent.stats import HostStats

WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]"})


def route_source(bus_url: str) -> str | None:
    """The local address this host uses to reach ``bus_url``, or None if it cannot tell.

    ``connect`` on a UDP socket only picks a route: no packet is sent.
    """
    parsed = urlparse(bus_url)
    if not parsed.hostname:
        return None
    try:
        infos = socket.getaddrinfo(parsed.hostname, parsed.port or 80, type=socket.SOCK_DGRAM)
        family, _, _, _, address = infos[0]
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(address)
            return probe.getsockname()[0]
    except OSError:
        return None


def advertise_host(configured: str, bind_host: str, bus_url: str) -> str:
    """``agent.advertise_host``, else the bind host, else (wildcard bind) the address that
    reaches the bus, else ``127.0.0.1``."""
    if configured:
        return configured
    if bind_host not in WILDCARD_HOSTS:
        return bind_host
    return (route_source(bus_url) if bus_url else None) or "127.0.0.1"


@dataclass
class AgentDocument:
    """Builds the agent document; ``jobs`` and ``bus_url`` are read on every call. ``jobs()``
    is ``{"running": n, "executions": [[id, attempt], ...], "draining": bool}``."""

    instance_id: str
    name: str
    configured_host: str
    bind_host: str
    port: int
    capacity: int
    jobs: Callable[[], dict[str, Any]]
    bus_url: Callable[[], str]
    stats: HostStats

    def host(self) -> str:
        """The host the bus should use to reach this agent."""
        return advertise_host(self.configured_host, self.bind_host, self.bus_url())

    def render(self) -> dict[str, Any]:
        """The ``agent/*`` document of ``docs/protocol.md``."""
        uname = platform.uname()
        jobs = self.jobs()
        return {
            "agent/instance-id": self.instance_id, "agent/name": self.name,
            "agent/host": self.host(), "agent/port": self.port,
            "agent/agent-version": __version__, "agent/os-name": uname.system,
            "agent/os-version": uname.release, "agent/cpu-arch": uname.machine,
            "agent/cpu-core": os.cpu_count() or 1, "agent/capacity": self.capacity,
            "agent/jobs": {"running": jobs["running"]}, "agent/stats": self.stats.sample(),
            "agent/executions": jobs["executions"], "agent/draining": jobs["draining"],
        }
