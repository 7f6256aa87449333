"""Issue 8, scenario 1: ``kill -9`` of an agent in the middle of chunk steps, 100 executions in
flight on two agents. The bus notices the silent agent at its lease and restarts its executions
on the other agent from their last checkpoint (attempt + 1): every execution completes, every
item is written, and an item is written twice only within one checkpoint interval of an
execution that moved."""
import pytest

from jsbus.launch import start_agent, start_bus, stop_all, wait_until
from tests.faults.helpers import (COMPLETED, FAST_BUS, chunk_job, deploy, executions, figures,
                                  item_repeats, kill9, register, statuses, status_of, submit,
                                  wait_final, wait_for_agents)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(150)]

EXECUTIONS, ITEMS, PAUSE, INTERVAL = 100, 20, 0.05, 5


def agent_name(execution):
    return (execution["job-execution/agent"] or {}).get("agent/name")


def test_kill_9_of_an_agent_mid_chunk_moves_its_executions_to_the_other(tmp_path):
    out = tmp_path / "items"
    out.mkdir()
    bus, url = start_bus(tmp_path, env=FAST_BUS)
    doomed = survivor = None
    try:
        doomed, _ = start_agent(tmp_path, url, name="agent-a", extra=["--capacity", "10"])
        survivor, _ = start_agent(tmp_path, url, name="agent-b", extra=["--capacity", "10"])
        wait_for_agents(url, 2)
        deploy(url)
        register(url, chunk_job("CHUNKS", out, ITEMS, PAUSE, INTERVAL))
        ids = [submit(url, "CHUNKS") for _ in range(EXECUTIONS)]
        assert None not in ids, "every submission answered 201"

        def about_half_done():
            found = executions(url, "CHUNKS")
            done = sum(status_of(e) == COMPLETED for e in found.values())
            running_on_a = [i for i, e in found.items() if agent_name(e) == "agent-a"
                            and status_of(e) == "batch-status/started"]
            return running_on_a if done >= EXECUTIONS // 3 and running_on_a else None
        running_on_a = wait_until(about_half_done, 60, interval=0.2,
                                  what="a third completed and agent-a running chunks")
        kill9(doomed)
        at_kill = executions(url, "CHUNKS")
        on_doomed = {i for i, e in at_kill.items()
                     if agent_name(e) == "agent-a" and status_of(e) not in
                     ("batch-status/completed", "batch-status/failed", "batch-status/stopped")}
        found = wait_final(url, "CHUNKS", ids, timeout=90)
    finally:
        stop_all(doomed, survivor, bus)

    status = statuses(found, ids)
    repeats = {i: item_repeats(out, i) for i in ids}
    incomplete = [i for i in ids if repeats[i][0] != set(range(1, ITEMS + 1))]
    duplicated = [i for i in ids
                  if repeats[i][1] > (INTERVAL if i in on_doomed else 0)]
    lost = [i for i in ids if status_of(found[i]) != COMPLETED]
    figures("agent kill -9", submitted=len(ids), completed=status["completed"],
            lost=len(lost), duplicated=len(duplicated),
            moved=len(on_doomed), running_on_killed_agent=len(running_on_a),
            items_written_twice=sum(r[1] for r in repeats.values()),
            allowed_twice=INTERVAL * len(on_doomed), incomplete=len(incomplete),
            statuses=dict(status))
    assert lost == [], f"not completed: {dict(status)}"
    assert duplicated == [], {i: repeats[i][1] for i in duplicated}
    assert incomplete == []
    moved_to_b = [i for i in on_doomed if agent_name(found[i]) == "agent-b"]
    assert sorted(moved_to_b) == sorted(on_doomed), "every moved execution ended on agent-b"
