"""Blocking an agent keeps new work away from it, for real: a ``jsbus serve`` and two ``jsagent``
processes on loopback. The blocked agent finishes what it runs and heartbeats on."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from jsbus.launch import start_agent, stop_all, wait_until
from tests.e2e.helpers import deploy, register, run_to_end, wait_for_agents, wait_for_status
from tests.e2e import api

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def put(url: str, path: str) -> dict:
    response = api.put(f"{url}{path}", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def run_many(url: str, job: str, count: int) -> list[dict]:
    with ThreadPoolExecutor(count) as pool:
        executions = list(pool.map(lambda _: run_to_end(url, job), range(count)))
    assert {e["job-execution/batch-status"] for e in executions} == {"batch-status/completed"}
    return executions


def agents_used(executions: list[dict]) -> set[str]:
    return {e["job-execution/agent"]["agent/name"] for e in executions}


def test_a_blocked_agent_gets_no_new_work_until_unblocked(running_bus, tmp_path):
    url = running_bus
    processes = [start_agent(tmp_path, url, name=name, extra=["--capacity", "2"])[0]
                 for name in ("agent-1", "agent-2")]
    try:
        ids = {a["agent/name"]: a["agent/instance-id"] for a in wait_for_agents(url, count=2)}
        deploy(url)
        register(url, "QUICK", ["e2e_batch.Count"])
        document = {"id": "LONG", "steps": [{"id": "STEP-1", "batchlet": {
            "ref": "e2e_batch.Nap", "properties": {"seconds": "3"}}}]}
        assert api.post(f"{url}/e2e/jobs", json=document, timeout=10).status_code == 201

        # A long execution on agent-1 (agent-2 blocked meanwhile), running when agent-1 is blocked.
        put(url, f"/agent/{ids['agent-2']}/block")
        created = api.post(f"{url}/e2e/job/LONG/executions", json={}, timeout=10)
        long_location = url + created.headers["location"]
        running = wait_for_status(long_location, "batch-status/started", timeout=30)
        assert running["job-execution/agent"]["agent/name"] == "agent-1"
        blocked = put(url, f"/agent/{ids['agent-1']}/block")
        assert blocked["agent/blocked"] is True
        put(url, f"/agent/{ids['agent-2']}/unblock")
        before = blocked["agent/last-seen"]

        assert agents_used(run_many(url, "QUICK", 6)) == {"agent-2"}
        finished = wait_for_status(long_location, timeout=30)
        assert finished["job-execution/batch-status"] == "batch-status/completed"
        assert finished["job-execution/agent"]["agent/name"] == "agent-1"
        assert agents_used(run_many(url, "QUICK", 4)) == {"agent-2"}

        # It heartbeats on while blocked, and the heartbeats do not unblock it.
        def heartbeat_after_block():
            agent = api.get(f"{url}/agent/{ids['agent-1']}", timeout=10).json()
            return agent if agent["agent/last-seen"] != before else None
        agent = wait_until(heartbeat_after_block, 30, what="a heartbeat of the blocked agent")
        assert (agent["agent/status"], agent["agent/blocked"]) == ("ready", True)
        memory = api.get(f"{url}/agent/{ids['agent-1']}/monitor/memory", timeout=10).json()
        assert memory["series"] and memory["series"][-1]["values"]["physical"]["total"] > 0

        # Unblocked, it gets work again: block the other one and everything goes to agent-1.
        assert put(url, f"/agent/{ids['agent-1']}/unblock")["agent/blocked"] is False
        put(url, f"/agent/{ids['agent-2']}/block")
        assert agents_used(run_many(url, "QUICK", 4)) == {"agent-1"}
        put(url, f"/agent/{ids['agent-2']}/unblock")
        recent = api.get(f"{url}/agent/{ids['agent-1']}", timeout=10).json()
        assert len(recent["agent/executions"]) == 5  # LONG and the last four
    finally:
        stop_all(*processes)
