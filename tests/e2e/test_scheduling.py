"""Cron schedules fired by a real bus on real agents: exactly once per slot, on time, and the
ledger after the bus was down for several slots."""
import time
from collections import Counter
from datetime import datetime

import pytest

from jsbus.launch import start_agent, start_bus, stop_all, wait_until
from tests.e2e.helpers import deploy, register, wait_for_agents
from tests.e2e import api

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]
FAST = {"JSBUS_SCHEDULER_LEAD": "0.5", "JSBUS_SCHEDULER_MISFIRE_THRESHOLD": "0.5",
        "JSBUS_DISPATCH_INTERVAL": "0.2"}


def when(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def history(url, job, app="e2e"):
    return api.get(f"{url}/{app}/job/{job}/schedule/history", params={"limit": 1000},
                     timeout=10).json()["results"]


def executions(url, job, app="e2e"):
    return api.get(f"{url}/{app}/job/{job}/executions", params={"limit": 1000},
                     timeout=10).json()["results"]


def add_schedule(url, job, **extra):
    body = {"schedule/cron-notation": "* * * * * ?", **extra}
    response = api.post(f"{url}/e2e/job/{job}/schedule", json=body, timeout=10)
    assert response.status_code == 201, response.text


def _slots_and_executions(url, job):
    rows = history(url, job)
    runs = executions(url, job)
    return rows, runs


def test_scheduled_runs_are_on_time(tmp_path):
    bus, url = start_bus(tmp_path, env=FAST)
    agent = None
    try:
        agent, _ = start_agent(tmp_path, url)
        wait_for_agents(url)
        deploy(url)
        register(url, "TICK", ["e2e_batch.Count"])
        add_schedule(url, "TICK")
        wait_until(lambda: len([e for e in executions(url, "TICK") if e[
            "job-execution/batch-status"] == "batch-status/completed"]) >= 4, 30,
            what="four scheduled executions to complete")
        api.put(f"{url}/e2e/job/TICK/schedule/pause", timeout=10)
        rows, runs = _slots_and_executions(url, "TICK")
    finally:
        stop_all(agent, bus)
    fired = [row for row in rows if row["fire-slot/status"] == "fired"]
    slots = sorted(when(row["fire-slot/time"]) for row in fired)
    assert len(slots) >= 4
    assert all((b - a).total_seconds() == 1 for a, b in zip(slots, slots[1:])), slots
    by_slot = Counter(run["job-execution/slot"] for run in runs)
    assert by_slot and max(by_slot.values()) == 1, "no slot has two executions"
    for run in runs:
        if run["job-execution/batch-status"] == "batch-status/completed":
            late = (when(run["job-execution/start-time"]) -
                    when(run["job-execution/slot"])).total_seconds()
            assert 0 <= late < 1.0, f"started {late:.3f} s after its slot"


def test_the_ledger_after_the_bus_was_down_for_three_slots(tmp_path):
    database = f"sqlite:///{tmp_path / 'down.db'}"
    bus, url = start_bus(tmp_path, database=database, env=FAST)
    agent = None
    policies = {"ONCE": "fire-once-now", "SKIPS": "skip", "ALL": "fire-all"}
    try:
        agent, _ = start_agent(tmp_path, url)
        wait_for_agents(url)
        deploy(url)
        for job, policy in policies.items():
            register(url, job, ["e2e_batch.Count"])
            add_schedule(url, job, **{"schedule/misfire-policy": policy})
        wait_until(lambda: all(len(history(url, job)) >= 2 for job in policies), 20,
                   what="two fires of each schedule")
        bus.stop()
        down_at = time.time()
        wait_until(lambda: time.time() - down_at > 4.2, 10, interval=0.1,
                   what="the bus to stay down for three more slots")
        bus, url = start_bus(tmp_path, database=database, env=FAST)
        up_at = time.time()
        wait_until(lambda: all(any(when(r["fire-slot/time"]).timestamp() > up_at + 1
                                   for r in history(url, job)) for job in policies), 20,
                   what="each schedule to fire after the restart")
        ledgers = {job: history(url, job) for job in policies}
        runs = {job: executions(url, job) for job in policies}
    finally:
        stop_all(agent, bus)
    for job, policy in policies.items():
        rows = ledgers[job]
        slots = Counter(row["fire-slot/time"] for row in rows)
        assert max(slots.values()) == 1, "one ledger row per slot"
        assert max(Counter(r["job-execution/slot"] for r in runs[job]).values()) == 1, \
            "no slot has two executions"
        missed = [r for r in rows if r["fire-slot/status"] == "missed"]
        late = [r for r in rows if (r["fire-slot/reason"] or "").startswith("late")]
        if policy == "skip":
            assert len(missed) >= 3 and not late
            assert all("misfire" in r["fire-slot/reason"] for r in missed)
        elif policy == "fire-once-now":
            assert len(late) == 1 and len(missed) >= 2
        else:
            assert len(late) >= 3 and not missed


def test_overlap_skip_and_pause_are_recorded_in_the_ledger(tmp_path):
    bus, url = start_bus(tmp_path, env=FAST)
    agent = None
    try:
        agent, _ = start_agent(tmp_path, url)
        wait_for_agents(url)
        deploy(url)
        register(url, "BUSY", ["e2e_batch.WaitsForStop"])
        add_schedule(url, "BUSY", **{"schedule/overlap-policy": "skip"})
        wait_until(lambda: any("overlap" in (r["fire-slot/reason"] or "")
                               for r in history(url, "BUSY")), 20, what="an overlap row")
        paused = api.put(f"{url}/e2e/job/BUSY/schedule/pause", timeout=10)
        assert paused.json()["schedule/active?"] is False
        wait_until(lambda: any(r["fire-slot/reason"] == "paused" for r in history(url, "BUSY")),
                   20, what="a paused row")
        rows = history(url, "BUSY")
        running = [e for e in executions(url, "BUSY")
                   if e["job-execution/batch-status"] == "batch-status/started"]
        for execution in running:
            api.put(f"{url}/e2e/job/BUSY/execution/{execution['job-execution/execution-id']}"
                      "/stop", timeout=10)
    finally:
        stop_all(agent, bus)
    fired = [r for r in rows if r["fire-slot/status"] == "fired"]
    assert len(fired) == 1, "only the first slot ran: the others overlapped it"
    assert all(r["fire-slot/status"] == "missed" for r in rows if r not in fired)
    assert {r["fire-slot/reason"].split(":")[0] for r in rows if r not in fired} <= \
        {"overlap", "paused"}


def test_a_slot_with_no_agent_fires_and_its_execution_waits(tmp_path):
    bus, url = start_bus(tmp_path, env=FAST)  # no agent at all
    try:
        deploy(url)
        register(url, "LONELY", ["e2e_batch.Count"])
        add_schedule(url, "LONELY")
        rows = wait_until(lambda: [r for r in history(url, "LONELY")
                                   if "no agent" in (r["fire-slot/reason"] or "")], 20,
                          what="a slot fired with no agent")
        waiting = {e["job-execution/execution-id"]: e["job-execution/batch-status"]
                   for e in executions(url, "LONELY")}
        assert rows[0]["fire-slot/status"] == "fired"
        assert waiting[rows[0]["fire-slot/execution-id"]] == "batch-status/undispatched"
    finally:
        bus.stop()


def test_a_burst_of_schedules_fires_each_slot_once_and_on_time(tmp_path):
    """Twenty jobs due at the same instants: their slots are fired in one transaction and their
    start commands reach the agent in batches; every slot still runs exactly once."""
    jobs = [f"BURST-{n:02d}" for n in range(20)]
    bus, url = start_bus(tmp_path, env=FAST)
    agent = None
    try:
        agent, _ = start_agent(tmp_path, url, extra=["--capacity", "80"])
        wait_for_agents(url)
        deploy(url)
        for job in jobs:
            register(url, job, ["e2e_batch.Count"])
        for job in jobs:
            add_schedule(url, job)

        def completed(job):
            return [e for e in executions(url, job)
                    if e["job-execution/batch-status"] == "batch-status/completed"]

        wait_until(lambda: all(len(completed(job)) >= 3 for job in jobs), 60,
                   what="three scheduled executions of each job to complete")
        for job in jobs:
            api.put(f"{url}/e2e/job/{job}/schedule/pause", timeout=10)
        runs = {job: executions(url, job) for job in jobs}
        rows = {job: history(url, job) for job in jobs}
    finally:
        stop_all(agent, bus)
    for job in jobs:
        by_slot = Counter(run["job-execution/slot"] for run in runs[job])
        assert max(by_slot.values()) == 1, f"{job}: a slot has two executions"
        fired = {row["fire-slot/time"] for row in rows[job]
                 if row["fire-slot/status"] == "fired"}
        assert fired == set(by_slot), f"{job}: every fired slot has its execution"
        for run in runs[job]:
            if run["job-execution/batch-status"] == "batch-status/completed":
                late = (when(run["job-execution/start-time"])
                        - when(run["job-execution/slot"])).total_seconds()
                assert 0 <= late < 1.0, f"{job}: started {late:.3f} s after its slot"
