"""Real zeroconf round trip, run by ``test_zeroconf_netns.py`` as ``unshare -n python THIS``.

Inside a fresh network namespace only ``lo`` exists, so no multicast can leave the machine.
The script refuses to run anywhere else. It brings ``lo`` up, starts the bus's browser, has two
agents with the same name advertise themselves, waits until the browser reports both, and
prints one JSON line with what it saw.
"""
from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import threading
import time
import uuid

from jsbus.config import load_agent_config, load_bus_config
from jsbus_plugins.discovery_zeroconf import ZeroconfAdvertiser, ZeroconfBrowser

AGENT_PORTS = (45971, 45972)


def only_loopback() -> bool:
    """True in a private network namespace: ``if_nameindex`` reads the current namespace."""
    return {name for _, name in socket.if_nameindex()} == {"lo"}


class Sightings:
    """Collects what the browser reports; ``wait_for`` returns once given ids were all seen."""

    def __init__(self):
        self.found: dict[str, dict] = {}
        self.changed = threading.Condition()

    def on_found(self, address) -> None:
        with self.changed:
            self.found[address.instance_id] = {"host": address.host, "port": address.port,
                                               "properties": address.properties}
            self.changed.notify_all()

    def wait_for(self, ids: set[str], deadline: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: ids <= self.found.keys(),
                                         timeout=max(0.0, deadline - time.monotonic()))


def run(interfaces: list[str], timeout: float) -> dict:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    overrides = {"discovery.interfaces": interfaces}
    bus_config = load_bus_config(environ={}).with_overrides(overrides)
    agent_config = load_agent_config(environ={}).with_overrides(overrides)
    sightings = Sightings()
    browser = ZeroconfBrowser(bus_config, sightings.on_found)
    advertisers = [ZeroconfAdvertiser(agent_config) for _ in AGENT_PORTS]
    ids = [str(uuid.uuid4()) for _ in AGENT_PORTS]
    started = time.monotonic()
    try:
        browser.start()
        for advertiser, instance_id, port in zip(advertisers, ids, AGENT_PORTS):
            advertiser.register(instance_id, "agent-1", port, "0.0.0.0", {"capacity": "2"})
        complete = sightings.wait_for(set(ids), started + timeout)
        names = [advertiser.service_name for advertiser in advertisers]
    finally:
        for part in [*advertisers, browser]:
            part.close()
    return {"interfaces": interfaces, "complete": complete, "expected": dict(zip(ids, AGENT_PORTS)),
            "found": sightings.found, "service_names": names,
            "seconds": round(time.monotonic() - started, 2)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--interfaces", default="[]", help="discovery.interfaces as JSON")
    parser.add_argument("--timeout", type=float, default=15.0)
    args = parser.parse_args()
    if not only_loopback():
        print(json.dumps({"error": "refusing to run zeroconf outside a private network "
                                   "namespace (run me with unshare -n)"}))
        return 2
    print(json.dumps(run(json.loads(args.interfaces), args.timeout)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
