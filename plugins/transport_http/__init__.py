"""The built-in transport plugin, ``http``: the bus sends commands to agents over HTTP.

Third-party transports may subclass :class:`HttpTransport` (see ``docs/plugins.md``).
"""
from __future__ import annotations

from jsbus.backends import TransportBackend
from jsbus.config import Config
from jsbus.hookspecs import hookimpl
from jsbus_plugins.transport_http.client import (AgentBusy, AgentRefused, HttpTransport,
                                                 start_command_body)

__all__ = ["AgentBusy", "AgentRefused", "HttpTransport", "start_command_body"]


@hookimpl
def jsbus_register_transport(config: Config) -> list[TransportBackend]:
    return [TransportBackend(name="http", factory=HttpTransport)]
