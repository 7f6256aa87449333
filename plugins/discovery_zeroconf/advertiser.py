"""The agent side of zeroconf discovery: advertise one agent as ``_jobstreamer._tcp``."""
from __future__ import annotations

import logging
import socket
import threading

from zeroconf import ServiceInfo, Zeroconf

import jsbus
from jsbus.backends import Advertiser
from jsbus.config import Config
from jsbus_plugins.discovery_zeroconf.network import (SERVICE_TYPE, advertised_addresses,
                                                      dns_label, open_zeroconf)

log = logging.getLogger(__name__)


def service_info(config: Config, instance_id: str, name: str, port: int, host: str,
                 properties: dict[str, str]) -> ServiceInfo:
    """The record of one agent. The instance id is in the service name, so two agents that
    share a name (two hosts both called ``agent-1``) do not collide."""
    label = f"{dns_label(name)}-{dns_label(instance_id, 8)}"
    txt = {"version": jsbus.__version__, **{str(k): str(v) for k, v in properties.items()},
           "instance-id": instance_id}
    addresses = [socket.inet_aton(address) for address in advertised_addresses(config, host)]
    return ServiceInfo(SERVICE_TYPE, f"{label}.{SERVICE_TYPE}", port=port, properties=txt,
                       server=f"{label}.local.", addresses=addresses)


class ZeroconfAdvertiser(Advertiser):
    """Makes one agent findable. ``register`` again replaces the advertisement.

    ``register`` blocks about 1.6 s while zeroconf probes the name; no lock is held meanwhile.
    """

    def __init__(self, config: Config):
        self.config = config
        self._lock = threading.Lock()
        self._zeroconf: Zeroconf | None = None
        self._info: ServiceInfo | None = None

    @property
    def service_name(self) -> str | None:
        """The name advertised (zeroconf may have renamed it to keep it unique)."""
        info = self._info
        return info.name if info else None

    def register(self, instance_id: str, name: str, port: int, host: str,
                 properties: dict[str, str]) -> None:
        info = service_info(self.config, instance_id, name, port, host, properties)
        with self._lock:
            if self._zeroconf is None:
                self._zeroconf = open_zeroconf(self.config)
            zeroconf, previous, self._info = self._zeroconf, self._info, None
        if previous is not None:
            zeroconf.unregister_service(previous)
        zeroconf.register_service(info, allow_name_change=True)
        with self._lock:
            self._info = info
        log.info("zeroconf: advertising %s on %s:%d", info.name,
                 ", ".join(info.parsed_addresses()), port)

    def close(self) -> None:
        with self._lock:
            zeroconf, info = self._zeroconf, self._info
            self._zeroconf = self._info = None
        if zeroconf is None:
            return
        if info is not None:
            zeroconf.unregister_service(info)  # goodbye packets: browsers drop us at once
        zeroconf.close()
