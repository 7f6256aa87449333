"""Issue 8, scenario 3: an agent cut off from the bus for longer than its lease. The agent runs
in a network namespace joined to the host by a veth pair; its link goes down while it runs
executions, for more than the lease, then comes back. The cut-off agent fences itself (stops
its work), the bus moves its executions to the agent on the host as their next attempt, and what
the cut-off agent reports once it is back is refused: every execution ends final and none did
its work twice."""
import os
import shutil
import time

import pytest

from jsbus.launch import free_port, start_agent, start_bus, stop_all, wait_until
from tests.e2e import api
from tests.faults.helpers import (COMPLETED, FAST_BUS, Netns, count_lines, deploy, executions,
                                  figures, mark_job, register, start_agent_in, status_of,
                                  statuses, submit, wait_final, wait_for_agents)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(150),
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"),
                                 reason="needs root and iproute2 (network namespaces)")]

LEASE, EXECUTIONS, SECONDS = 3.0, 20, 4.0


def agents_by_name(url):
    return {a["agent/name"]: a for a in api.get(f"{url}/agents", timeout=10).json()}


def test_an_agent_cut_off_longer_than_its_lease_runs_nothing_twice(tmp_path):
    out = tmp_path / "marks"
    out.mkdir()
    port = free_port()
    bus = cut_off = on_host = None
    with Netns(f"jsf{os.getpid() % 10000}") as netns:
        try:
            bus, url = start_bus(tmp_path, port=port, env=FAST_BUS,
                                 extra=["--bind", f"0.0.0.0:{port}"])
            cut_off, _ = start_agent_in(netns, tmp_path, f"http://{netns.host_ip}:{port}",
                                        name="agent-netns", extra=["--capacity", "10"])
            on_host, _ = start_agent(tmp_path, url, name="agent-host",
                                     extra=["--capacity", "10"])
            wait_for_agents(url, 2)
            host_id = agents_by_name(url)["agent-host"]["agent/instance-id"]
            assert api.put(f"{url}/agent/{host_id}/block", timeout=10).status_code == 200
            deploy(url)
            register(url, mark_job("MARK", out, seconds=SECONDS))
            ids = [submit(url, "MARK") for _ in range(EXECUTIONS)]
            assert None not in ids

            def running_in_netns():
                found = executions(url, "MARK")
                return [i for i, e in found.items() if status_of(e) == "batch-status/started"
                        and (e["job-execution/agent"] or {}).get("agent/name") == "agent-netns"]
            at_cut = wait_until(lambda: len(running_in_netns()) >= 5 and running_in_netns(),
                                30, interval=0.1, what="executions running in the namespace")
            netns.cut()
            cut_at = time.monotonic()
            assert api.put(f"{url}/agent/{host_id}/unblock", timeout=10).status_code == 200
            wait_until(lambda: agents_by_name(url)["agent-netns"]["agent/status"] == "lost",
                       LEASE * 4, interval=0.2, what="the bus to declare agent-netns lost")
            lost_after = time.monotonic() - cut_at
            # cut off for two leases in all, then back
            wait_until(lambda: time.monotonic() - cut_at > 2 * LEASE, 3 * LEASE, interval=0.1,
                       what="two leases")
            netns.restore()
            cut_for = time.monotonic() - cut_at
            wait_until(lambda: agents_by_name(url)["agent-netns"]["agent/status"] == "ready",
                       LEASE * 5, interval=0.2, what="agent-netns to be ready again")
            found = wait_final(url, "MARK", ids, timeout=60)
        finally:
            stop_all(cut_off, on_host, bus)

    ran, started = count_lines(out / "ran"), count_lines(out / "started")
    status = statuses(found, ids)
    lost = [i for i in ids if i not in found]
    duplicated = [i for i, times in ran.items() if times > 1]
    figures("agent cut off", submitted=len(ids), completed=status["completed"],
            lost=len(lost), duplicated=len(duplicated), running_at_cut=len(at_cut),
            restarted=sum(times > 1 for times in started.values()),
            declared_lost_after_s=round(lost_after, 1), cut_for_s=round(cut_for, 1),
            statuses=dict(status))
    assert lost == []
    assert duplicated == [], {i: ran[i] for i in duplicated}
    assert all(ran[i] == 1 for i in ids if status_of(found[i]) == COMPLETED)
    assert status["completed"] == len(ids), dict(status)
