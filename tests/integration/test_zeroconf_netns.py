"""Real zeroconf: the browser finds advertised agents. Runs only in a private network
namespace (``unshare -n``), where nothing but ``lo`` exists, so no multicast leaves the host."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = Path(__file__).with_name("zeroconf_probe.py")


def netns_unavailable() -> str | None:
    """Why ``unshare -n`` cannot run here, or None when it can."""
    if not (shutil.which("unshare") and shutil.which("ip")):
        return "needs util-linux unshare and iproute2 ip"
    result = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    if result.returncode != 0:
        return f"unshare -n is not permitted here (root needed): {result.stderr.strip()}"
    return None


@pytest.fixture(scope="module")
def netns() -> None:
    reason = netns_unavailable()
    if reason:
        pytest.skip(f"real zeroconf runs only in a private network namespace; {reason}")


def run_probe(interfaces: list[str]) -> dict:
    result = subprocess.run(["unshare", "-n", sys.executable, str(PROBE),
                             "--interfaces", json.dumps(interfaces), "--timeout", "15"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"probe failed:\n{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(90)
@pytest.mark.parametrize("interfaces", [[], ["lo"]], ids=["default-all", "by-interface-name"])
def test_browser_finds_each_advertised_agent(netns, interfaces):
    seen = run_probe(interfaces)

    assert seen["complete"], f"not every agent was found in time: {seen}"
    for instance_id, port in seen["expected"].items():
        agent = seen["found"][instance_id]
        assert agent["host"] == "127.0.0.1"
        assert agent["port"] == port
        assert agent["properties"]["instance-id"] == instance_id
        assert agent["properties"]["version"]
        assert agent["properties"]["capacity"] == "2"
    # Two agents with one name get two names on the wire, each carrying its instance id.
    names = seen["service_names"]
    assert len(set(names)) == 2
    assert all(name.startswith("agent-1-") and name.endswith("._jobstreamer._tcp.local.")
               for name in names)
