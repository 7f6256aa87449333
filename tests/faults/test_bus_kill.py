"""Issue 8, scenario 2: ``kill -9`` of the bus while 1000 executions are being submitted by
several clients. A new bus process on the same database and port takes over: every execution
that was answered 201 ends in a final status (none lost), and none ran twice (the batchlet
appends its execution id to a file once it has done its work)."""
import threading

import pytest

from jsbus.launch import http_ok, start_agent, start_bus, stop_all, wait_until
from tests.faults.helpers import (COMPLETED, FAST_BUS, count_lines, deploy, executions, figures,
                                  kill9_tree, mark_job, register, status_of, statuses, submit,
                                  wait_final, wait_for_agents)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]

TOTAL, THREADS, KILL_AFTER = 1000, 8, 300


def test_kill_9_of_the_bus_while_1000_executions_are_submitted(tmp_path):
    out = tmp_path / "marks"
    out.mkdir()
    bus, url = start_bus(tmp_path, env=FAST_BUS)
    port = int(url.rsplit(":", 1)[1])
    agents, second_bus = [], None
    try:
        for name in ("agent-a", "agent-b"):
            agents.append(start_agent(tmp_path, url, name=name, extra=["--capacity", "8"])[0])
        wait_for_agents(url, 2)
        deploy(url)
        register(url, mark_job("MARK", out))

        accepted, unanswered = [], []
        lock = threading.Lock()
        claimed = [0]  # submissions under way or answered 201: TOTAL 201s in all

        def client():
            while True:
                with lock:
                    if claimed[0] >= TOTAL:
                        return
                    claimed[0] += 1
                execution = submit(url, "MARK", timeout=15)
                with lock:
                    (accepted if execution is not None else unanswered).append(execution)
                    claimed[0] -= execution is None
                if execution is None:  # the bus is down: wait for the next one
                    wait_until(lambda: http_ok(f"{url}/healthcheck"), 60, interval=0.1,
                               what="a bus to answer again")
        threads = [threading.Thread(target=client, daemon=True) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        wait_until(lambda: len(accepted) >= KILL_AFTER, 60, interval=0.02,
                   what=f"{KILL_AFTER} accepted submissions")
        kill9_tree(bus)
        accepted_at_kill = len(accepted)
        second_bus, _ = start_bus(tmp_path, port=port, env=FAST_BUS)
        for thread in threads:
            thread.join(120)
        assert not any(thread.is_alive() for thread in threads), "the clients finished"
        found = wait_final(url, "MARK", accepted, timeout=120)
        everything = executions(url, "MARK")
    finally:
        stop_all(*agents, second_bus, bus)

    ran = count_lines(out / "ran")
    status = statuses(found, accepted)
    lost = [i for i in accepted if i not in found]
    duplicated = [i for i, times in ran.items() if times > 1]
    unpromised = set(everything) - set(accepted)
    figures("bus kill -9", attempts=len(accepted) + len(unanswered), submitted=len(accepted),
            accepted_before_kill=accepted_at_kill, unanswered=len(unanswered),
            completed=status["completed"], lost=len(lost), duplicated=len(duplicated),
            created_without_201=len(unpromised),
            unpromised_statuses=dict(statuses(everything, unpromised)),
            statuses=dict(status))
    assert len(set(accepted)) == len(accepted), "every 201 named a new execution"
    assert lost == []
    assert duplicated == [], {i: ran[i] for i in duplicated}
    assert all(ran[i] == 1 for i in accepted if status_of(found[i]) == COMPLETED), \
        "every completed execution did its work once"
