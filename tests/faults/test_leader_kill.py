"""Issue 8, scenario 4: ``kill -9`` of the leader of two bus processes on PostgreSQL while 50
schedules fire every second. The follower takes the leader lock and goes on firing: no slot
fires twice (each execution's slot is unique per job, each ledger slot once), every slot of the
failover is in the ledger as fired or missed (with its reason), and every execution ends."""
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from jsbus.launch import start_agent, start_bus, stop_all, wait_until
from tests.databases import SERVER
from tests.e2e import api
from tests.faults.helpers import (APP, COMPLETED, FAST_BUS, count_lines, deploy, executions,
                                  figures, kill9_tree, mark_job, postgres_database, register,
                                  role, slots, status_of, statuses, wait_final, wait_for_agents)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(150),
              pytest.mark.skipif(not SERVER, reason="needs JSBUS_TEST_POSTGRES_URL")]

JOBS, BEFORE, AFTER = 50, 4.0, 4.0


def when(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def jobs():
    return [f"TICK-{n:02d}" for n in range(JOBS)]


def test_kill_9_of_the_leader_while_50_schedules_fire_every_second(tmp_path):
    out = tmp_path / "marks"
    out.mkdir()
    with postgres_database(SERVER) as database:
        leader = follower = agent = None
        try:
            leader, leader_url = start_bus(tmp_path, database=database, env=FAST_BUS)
            follower, url = start_bus(tmp_path, database=database, env=FAST_BUS)
            assert (role(leader_url), role(url)) == ("leader", "follower")
            # the agent heartbeats to the follower, which outlives the leader
            agent, _ = start_agent(tmp_path, url, name="agent-1", extra=["--capacity", "16"])
            wait_for_agents(url, 1)
            deploy(url)
            for job in jobs():
                register(url, mark_job(job, out))
                created = api.post(f"{url}/{APP}/job/{job}/schedule",
                                   json={"schedule/cron-notation": "* * * * * ?"}, timeout=10)
                assert created.status_code in (200, 201), created.text

            def fired(job):
                return sum(s["fire-slot/status"] == "fired" for s in slots(url, job))
            wait_until(lambda: fired(jobs()[-1]) >= BEFORE, BEFORE * 5, interval=0.5,
                       what=f"{BEFORE:.0f} fires of the last schedule")
            kill9_tree(leader)
            assert role(leader_url) is None, "the leader is gone"
            killed_at, killed_wall = time.monotonic(), datetime.now(timezone.utc)
            wait_until(lambda: role(url) == "leader", 30, interval=0.1,
                       what="the follower to lead")
            takeover = time.monotonic() - killed_at
            led_wall = datetime.now(timezone.utc)
            fired_at_takeover = fired(jobs()[-1])
            wait_until(lambda: fired(jobs()[-1]) >= fired_at_takeover + AFTER, AFTER * 5,
                       interval=0.5, what=f"{AFTER:.0f} fires after the takeover")
            for job in jobs():
                paused = api.put(f"{url}/{APP}/job/{job}/schedule/pause", timeout=10)
                assert paused.status_code == 200, paused.text
            found = {job: wait_final(url, job, executions(url, job), timeout=60)
                     for job in jobs()}
            ledger = {job: slots(url, job) for job in jobs()}
        finally:
            stop_all(agent, follower, leader)

    every = {i: e for per_job in found.values() for i, e in per_job.items()}
    status = statuses(every, every)
    slot_duplicates = sum(len(per_job) - len({e["job-execution/slot"]
                                              for e in per_job.values()})
                          for per_job in found.values())
    ledger_duplicates = sum(len(rows) - len({r["fire-slot/time"] for r in rows})
                            for rows in ledger.values())
    fired_rows = [r for rows in ledger.values() for r in rows if r["fire-slot/status"] == "fired"]
    # the slots of the pause that ends the test are not the failover's
    missed = Counter(r["fire-slot/reason"] for rows in ledger.values() for r in rows
                     if r["fire-slot/status"] == "missed" and r["fire-slot/reason"] != "paused")
    # every second from each job's first fired slot to its last is in the ledger
    gaps = 0
    for rows in ledger.values():
        times = {when(r["fire-slot/time"]) for r in rows}
        fired_times = sorted(when(r["fire-slot/time"]) for r in rows
                             if r["fire-slot/status"] == "fired")
        span = int((fired_times[-1] - fired_times[0]).total_seconds())
        gaps += sum(fired_times[0] + timedelta(seconds=n) not in times for n in range(span))
    window = [r for rows in ledger.values() for r in rows
              if killed_wall - timedelta(seconds=1) <= when(r["fire-slot/time"])
              <= led_wall + timedelta(seconds=2)]
    window_status = Counter(r["fire-slot/status"] for r in window)
    orphans = [r for r in fired_rows if r["fire-slot/execution-id"] not in every]
    ran = count_lines(out / "ran")
    ran_twice = [i for i, times in ran.items() if times > 1]
    lost = [i for i, e in every.items() if status_of(e) != COMPLETED]
    figures("leader kill -9", schedules=JOBS, slots_fired=len(fired_rows),
            slots_missed_not_paused=sum(missed.values()), missed_reasons=dict(missed),
            failover_window_slots=dict(window_status), ledger_gaps=gaps,
            executions=len(every), completed=status["completed"], lost=len(lost),
            duplicated=slot_duplicates + ledger_duplicates + len(ran_twice),
            slot_duplicates=slot_duplicates, ledger_duplicates=ledger_duplicates,
            ran_twice=len(ran_twice), fired_without_execution=len(orphans),
            takeover_s=round(takeover, 1), statuses=dict(status))
    assert slot_duplicates == 0 and ledger_duplicates == 0 and ran_twice == []
    assert gaps == 0, "every slot of every second is in the ledger, fired or missed"
    assert orphans == [], "every fired slot has its execution"
    assert all(e["job-execution/slot"] for e in every.values()), "only scheduled executions"
    assert lost == [], dict(status)
