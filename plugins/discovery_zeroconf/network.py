"""What the zeroconf browser and advertiser share: the service type, the interfaces to use
(``discovery.interfaces``) and the IPv4 addresses an agent advertises."""
from __future__ import annotations

import ipaddress
import re
import socket

import ifaddr
from zeroconf import InterfaceChoice, IPVersion, Zeroconf

from jsbus.config import Config
from jsbus.errors import ConfigurationError

SERVICE_TYPE = "_jobstreamer._tcp.local."
UNSPECIFIED_HOSTS = frozenset({"", "0.0.0.0"})


def is_ipv4(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 4
    except ValueError:
        return False


def configured_interfaces(config: Config) -> list[str]:
    """``discovery.interfaces`` as IPv4 addresses; an entry may name an interface ("eth0").

    An empty list means every interface (zeroconf's ``InterfaceChoice.All``): returns [].
    """
    adapters = None
    addresses: list[str] = []
    for entry in config.get("discovery.interfaces") or []:
        entry = str(entry).strip()
        if is_ipv4(entry):
            addresses.append(entry)
            continue
        adapters = adapters if adapters is not None else ifaddr.get_adapters()
        found = [ip.ip for adapter in adapters if entry in (adapter.name, adapter.nice_name)
                 for ip in adapter.ips if ip.is_IPv4]
        if not found:
            raise ConfigurationError(f"discovery.interfaces: {entry!r} is neither an IPv4 "
                                     f"address nor an interface with one")
        addresses.extend(found)
    return list(dict.fromkeys(addresses))


def open_zeroconf(config: Config) -> Zeroconf:
    """A Zeroconf on the configured interfaces, IPv4 only. Starts zeroconf's own thread."""
    interfaces = configured_interfaces(config)
    return Zeroconf(interfaces=interfaces or InterfaceChoice.All, ip_version=IPVersion.V4Only)


def machine_ipv4_addresses() -> list[str]:
    """Every IPv4 address of this machine; loopback ones only when there is nothing else,
    because a peer that picks 127.0.0.1 from another host would reach itself."""
    found = [ip.ip for adapter in ifaddr.get_adapters() for ip in adapter.ips if ip.is_IPv4]
    routable = [address for address in found if not ipaddress.ip_address(address).is_loopback]
    return list(dict.fromkeys(routable or found))


def advertised_addresses(config: Config, host: str) -> list[str]:
    """The IPv4 addresses to advertise for an agent listening on ``host``."""
    if host in UNSPECIFIED_HOSTS:
        addresses = configured_interfaces(config) or machine_ipv4_addresses()
    elif is_ipv4(host):
        addresses = [host]
    else:
        try:
            addresses = sorted({info[4][0] for info in
                                socket.getaddrinfo(host, None, socket.AF_INET)})
        except OSError as exc:
            raise ConfigurationError(f"cannot resolve the advertised host {host!r}: "
                                     f"{exc}") from exc
    if not addresses:
        raise ConfigurationError(f"no IPv4 address to advertise for host {host!r}")
    return addresses


def dns_label(text: str, limit: int = 40) -> str:
    """``text`` as a DNS label: letters, digits and dashes (mDNS labels hold 63 bytes)."""
    label = re.sub(r"[^A-Za-z0-9-]+", "-", text).strip("-")
    return label[:limit].strip("-") or "jsagent"
