"""The bus finds an agent through zeroconf alone, inside a private network namespace (zeroconf
multicasts; this machine may only send packets to loopback outside such a namespace)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.netns, pytest.mark.e2e, pytest.mark.timeout(150)]
SCENARIO = Path(__file__).resolve().parent / "discovery_scenario.py"


def unshare_works() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10)
    return probe.returncode == 0


@pytest.mark.skipif(not unshare_works(), reason="needs root to run `unshare -n`")
def test_bus_finds_agent_by_zeroconf_alone():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(["unshare", "-n", sys.executable, str(SCENARIO)],
                            capture_output=True, text=True, timeout=140, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(outcome["agents"]) == 1
    assert outcome["bus_log_mentions_discovery"] is True
    assert outcome["status"] == "batch-status/completed"


ROGUE = Path(__file__).resolve().parent / "rogue_scenario.py"


@pytest.mark.skipif(not unshare_works(), reason="needs root to run `unshare -n`")
def test_a_rogue_found_by_zeroconf_stays_pending_and_gets_nothing():
    """A service advertising _jobstreamer._tcp.local. that heartbeats with a key nobody
    approved: pending, and no command (start, batch, stop, dry run) reaches it."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(["unshare", "-n", sys.executable, str(ROGUE)],
                            capture_output=True, text=True, timeout=140, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["heartbeat_status"] == 200
    assert outcome["rogue_status"] == "pending"
    assert outcome["execution_statuses"] == ["batch-status/undispatched"]
    assert [path for _, path in outcome["requests"]] == ["/join"] * len(outcome["requests"])
