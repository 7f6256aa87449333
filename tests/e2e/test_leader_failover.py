"""Several bus nodes on one PostgreSQL database (issue 8): exactly one leads (an advisory lock
held by a session of its own); kill -9 of the leader ends its session, which frees the lock,
and the follower leads within ``bus.leader_retry`` and a margin, and dispatches, with no fire
slot fired twice and no execution lost. Skipped without ``JSBUS_TEST_POSTGRES_URL``; each test
makes a fresh database."""
from __future__ import annotations

import os
import time
import uuid
from collections import Counter

import pytest

from jsbus.launch import start_agent, start_bus, stop_all, wait_until
from tests.e2e import api
from tests.e2e.helpers import register, run_to_end, wait_for_agents
from tests.e2e.recovery import (kill_9, register_append_job, runs, submit, wait_all_final)

SERVER = os.environ.get("JSBUS_TEST_POSTGRES_URL", "")
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180),
              pytest.mark.skipif(not SERVER, reason="set JSBUS_TEST_POSTGRES_URL")]
LEADER_RETRY = 1.0
MARGIN = 5.0
ENV = {"JSBUS_LEADER_RETRY": str(LEADER_RETRY), "JSBUS_AGENTS_LEASE": "30",
       "JSBUS_DISPATCH_INTERVAL": "0.2", "JSBUS_SCHEDULER_RESYNC": "1"}


def _admin(statement: str) -> None:
    import psycopg
    with psycopg.connect(SERVER, autocommit=True) as connection:
        connection.execute(statement)


@pytest.fixture
def database():
    name = f"jsbus_failover_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}"')
    yield SERVER.rsplit("/", 1)[0] + f"/{name}"
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def role(url):
    try:
        return api.get(f"{url}/healthcheck", timeout=5).json()["role"]
    except Exception:  # noqa: BLE001 - a killed bus answers nothing
        return None


def test_the_follower_leads_within_the_retry_after_kill_9_of_the_leader(tmp_path, database):
    ledger = tmp_path / "runs.txt"
    first, first_url = start_bus(tmp_path, database=database, env=ENV)
    second, second_url = start_bus(tmp_path, database=database, env=ENV)
    agent = None
    try:
        assert (role(first_url), role(second_url)) == ("leader", "follower")
        # the agent reports to the follower, which outlives the leader
        agent, _ = start_agent(tmp_path, second_url, env={"JSAGENT_CAPACITY": "4"})
        wait_for_agents(second_url)
        register_append_job(second_url, ledger, seconds=1.0)
        register(second_url, "TICK", ["e2e_batch.Count"])
        response = api.post(f"{second_url}/e2e/job/TICK/schedule",
                            json={"schedule/cron-notation": "* * * * * ?"}, timeout=10)
        assert response.status_code == 201, response.text
        assert run_to_end(second_url, "TICK")["job-execution/batch-status"] == \
            "batch-status/completed"
        ids = [submit(second_url) for _ in range(6)]
        wait_until(lambda: sum(runs(ledger).values()) >= 1, 60, what="a run to start")

        kill_9(first)
        killed = time.monotonic()
        wait_until(lambda: role(second_url) == "leader", LEADER_RETRY + MARGIN, interval=0.05,
                   what="the follower to lead")
        took = time.monotonic() - killed
        assert took <= LEADER_RETRY + MARGIN
        assert "leader: this bus process" in second.output()

        # it dispatches: what was submitted finishes, each once; new work runs
        ids.append(submit(second_url))
        found = wait_all_final(second_url, ids, timeout=120)
        assert set(found.values()) == {"batch-status/completed"}, found
        counted = runs(ledger)
        assert sorted(counted) == sorted(ids) and set(counted.values()) == {1}, counted
        # the schedule fired on, once per slot, across the change of leader
        wait_until(lambda: fired_after(second_url, killed) >= 2, 30,
                   what="the new leader to fire the schedule")
        api.put(f"{second_url}/e2e/job/TICK/schedule/pause", timeout=10)
        slots = Counter(e["job-execution/slot"] for e in executions(second_url, "TICK")
                        if e["job-execution/slot"])
        assert slots and set(slots.values()) == {1}, slots
    finally:
        stop_all(agent, first, second)


def executions(url, job):
    return api.get(f"{url}/e2e/job/{job}/executions", params={"limit": 1000},
                   timeout=10).json()["results"]


def fired_after(url, since_monotonic):
    """How many TICK executions were created after the kill (by wall clock)."""
    from jsbus.wire import parse_time
    from jsbus.model import utcnow
    from datetime import timedelta
    cutoff = utcnow() - timedelta(seconds=time.monotonic() - since_monotonic)
    return sum(1 for e in executions(url, "TICK")
               if parse_time(e["job-execution/create-time"], "t") > cutoff)


def test_a_killed_leaders_advisory_lock_is_freed_with_its_session(database):
    """The lock lives in a dedicated session: a process killed with SIGKILL closes its socket,
    the server ends the session and frees the lock at once."""
    import subprocess
    import sys
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from jsbus_plugins.storage_peewee.lock import AdvisoryLeaderLock\n"
        f"lock = AdvisoryLeaderLock({database!r})\n"
        "assert lock.try_acquire()\n"
        "print('held', flush=True)\n"
        "time.sleep(600)\n")], stdout=subprocess.PIPE, text=True)
    from jsbus_plugins.storage_peewee.lock import AdvisoryLeaderLock
    lock = AdvisoryLeaderLock(database)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert not lock.try_acquire()
        holder.kill()
        holder.wait(10)
        wait_until(lock.try_acquire, 5, interval=0.05, what="the lock to be free")
        assert lock.verify()
    finally:
        lock.release()
        if holder.poll() is None:
            holder.kill()
