"""Runs INSIDE a private network namespace (``unshare -n``): a bus and an agent that know
nothing of each other, the agent found by zeroconf alone, then a job run on it.
Prints one JSON line with what happened."""
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from jsbus.launch import start_agent, start_bus, stop_all  # noqa: E402
from tests.e2e.helpers import deploy, register, run_to_end, wait_for_agents  # noqa: E402


def main() -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    workdir = Path(tempfile.mkdtemp(prefix="jsbus-netns-"))
    bus, url = start_bus(workdir, discovery=True)
    agent = None
    result = {}
    try:
        began = time.monotonic()
        agent, agent_url = start_agent(workdir, None, discovery=True)
        found = wait_for_agents(url, timeout=60)
        result["found_after_s"] = round(time.monotonic() - began, 2)
        result["agents"] = [a["agent/instance-id"] for a in found]
        result["agent_url"] = agent_url
        deploy(url)
        register(url, "FOUND-BY-ZEROCONF", ["e2e_batch.Count"])
        result["status"] = run_to_end(url, "FOUND-BY-ZEROCONF")["job-execution/batch-status"]
        result["bus_log_mentions_discovery"] = "discovery found agent" in bus.output()
    finally:
        stop_all(agent, bus)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
