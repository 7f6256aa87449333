"""The bus side of zeroconf discovery: browse ``_jobstreamer._tcp`` and report each agent."""
from __future__ import annotations

import ipaddress
import logging
import threading
from typing import Callable

from zeroconf import IPVersion, ServiceBrowser, ServiceInfo, ServiceStateChange, Zeroconf

from jsbus.backends import AgentAddress, Browser
from jsbus.config import Config
from jsbus_plugins.discovery_zeroconf.network import SERVICE_TYPE, open_zeroconf

log = logging.getLogger(__name__)

# Removed is not reported: a crashed agent sends no goodbye, so heartbeats decide liveness.
REPORTED_CHANGES = frozenset({ServiceStateChange.Added, ServiceStateChange.Updated})


class ZeroconfBrowser(Browser):
    """Calls ``on_found(AgentAddress)`` for each agent that appears or changes its record.

    ``on_found`` runs on zeroconf's browser thread, one call at a time: it must return quickly
    (an actor ``tell``). Services without an ``instance-id`` property are not agents: skipped.
    """

    def __init__(self, config: Config, on_found: Callable[[AgentAddress], None], *,
                 resolve_timeout: float = 3.0):
        self.config = config
        self.on_found = on_found
        self.resolve_timeout = resolve_timeout
        self._lock = threading.Lock()
        self._zeroconf: Zeroconf | None = None
        self._browser: ServiceBrowser | None = None

    def start(self) -> None:
        with self._lock:
            if self._zeroconf is not None:
                return
            self._zeroconf = open_zeroconf(self.config)
            self._browser = ServiceBrowser(self._zeroconf, SERVICE_TYPE,
                                           handlers=[self._state_changed])

    def close(self) -> None:
        with self._lock:
            zeroconf, browser = self._zeroconf, self._browser
            self._zeroconf = self._browser = None
        # Outside the lock: cancel() joins the browser thread, which may be resolving.
        if browser is not None:
            browser.cancel()
        if zeroconf is not None:
            zeroconf.close()

    def _state_changed(self, zeroconf: Zeroconf, service_type: str, name: str,
                       state_change: ServiceStateChange) -> None:
        if state_change not in REPORTED_CHANGES:
            return
        # Blocking here is allowed: this is the browser's thread, not zeroconf's event loop.
        info = zeroconf.get_service_info(service_type, name,
                                         timeout=int(self.resolve_timeout * 1000))
        if info is None:
            log.warning("zeroconf: %s did not resolve within %g s", name, self.resolve_timeout)
            return
        address = agent_address(info)
        if address is None:
            log.debug("zeroconf: %s is not a jsbus agent (no instance-id or IPv4 address)", name)
            return
        try:
            self.on_found(address)
        except Exception:  # noqa: BLE001 - an exception would end the browser thread
            log.exception("discovery callback failed for %s", name)


def agent_address(info: ServiceInfo) -> AgentAddress | None:
    """The agent a resolved service describes, or None when it is not one."""
    properties = {key: value or "" for key, value in info.decoded_properties.items()}
    instance_id = properties.get("instance-id")
    addresses = info.parsed_addresses(IPVersion.V4Only)
    if not instance_id or not addresses or not info.port:
        return None
    # An agent seen from elsewhere is reached on a routable address, not its loopback.
    routable = [a for a in addresses if not ipaddress.ip_address(a).is_loopback]
    return AgentAddress(instance_id=instance_id, host=(routable or addresses)[0],
                        port=info.port, properties=properties)
