"""The built-in discovery plugin, ``zeroconf``: agents advertise ``_jobstreamer._tcp.local.``
with TXT properties ``instance-id`` and ``version``; the bus browses for them.

Nothing here opens a socket at import: Zeroconf instances are made by ``start``/``register``.
"""
from __future__ import annotations

from jsbus.backends import DiscoveryBackend
from jsbus.config import Config
from jsbus.hookspecs import hookimpl
from jsbus_plugins.discovery_zeroconf.advertiser import ZeroconfAdvertiser
from jsbus_plugins.discovery_zeroconf.browser import ZeroconfBrowser
from jsbus_plugins.discovery_zeroconf.network import SERVICE_TYPE

__all__ = ["SERVICE_TYPE", "ZeroconfAdvertiser", "ZeroconfBrowser"]


@hookimpl
def jsbus_register_discovery(config: Config) -> list[DiscoveryBackend]:
    return [DiscoveryBackend(name="zeroconf", browser=ZeroconfBrowser,
                             advertiser=ZeroconfAdvertiser)]
