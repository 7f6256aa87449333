"""The bus fails (issue 8): kill -9 of a real bus process while executions are queued and
running on a real agent; a new bus process on the same database (and address) finishes them
all, none lost and none run twice (each run appends its execution id to a file)."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from jsbus.model import utcnow
from jsbus_plugins.storage_peewee import PeeweeStorage

from jsbus.launch import Process, start_agent, start_bus, stop_all, wait_until
from tests.e2e.helpers import wait_for_agents
from tests.e2e.recovery import (APPEND_JOB, kill_9, register_append_job, runs, statuses,
                                submit, wait_all_final)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

# The lease (and so the agent's self-fence, 0.6 x the lease) outlasts the bus's restart: the
# agent's executions run on while no bus answers.
BUS_ENV = {"JSBUS_AGENTS_COMMAND_TIMEOUT": "2", "JSBUS_AGENTS_LEASE": "30",
           "JSBUS_DISPATCH_INTERVAL": "0.2"}


def shared_database(tmp_path) -> str:
    """The database of the test's bus processes: a fresh PostgreSQL one when the suite runs on
    PostgreSQL (``tests/conftest.py`` sets ``JSBUS_DATABASE``), else a SQLite file."""
    return os.environ.get("JSBUS_DATABASE") or f"sqlite:///{tmp_path / 'shared.db'}"


class Restart:
    """A bus process (``first``, started here) on a database with an agent, and the bus
    process that takes its place on the same database and address (``second``, once started);
    runs of job APPEND append their execution ids to ``ledger``."""

    def __init__(self, tmp_path: Path):
        self.tmp_path, self.database = tmp_path, shared_database(tmp_path)
        self.ledger = tmp_path / "runs.txt"
        self.first, self.url = start_bus(tmp_path, database=self.database, env=BUS_ENV)
        self.agent: Process | None = None
        self.second: Process | None = None

    def start_second(self) -> Process:
        """A new bus process on the first's database and address (the first is gone)."""
        port = int(self.url.rsplit(":", 1)[1])
        self.second, self.url = start_bus(self.tmp_path, database=self.database, port=port,
                                          env=BUS_ENV)
        return self.second


@contextmanager
def bus_and_agent(tmp_path: Path, capacity: int, seconds: float) -> Iterator[Restart]:
    """A bus process and an agent of ``capacity`` that runs job APPEND (``seconds`` a run);
    every process (the second bus too) stopped at the end."""
    restart = Restart(tmp_path)
    try:
        restart.agent, _ = start_agent(tmp_path, restart.url,
                                       env={"JSAGENT_CAPACITY": str(capacity)})
        wait_for_agents(restart.url)
        register_append_job(restart.url, restart.ledger, seconds=seconds)
        yield restart
    finally:
        stop_all(restart.agent, restart.first, restart.second)


def assert_all_completed_once(url: str, ids: list[int], ledger: Path, timeout: float) -> None:
    found = wait_all_final(url, ids, timeout=timeout)
    assert set(found.values()) == {"batch-status/completed"}, found
    counted = runs(ledger)
    assert sorted(counted) == sorted(ids), counted  # none lost
    assert set(counted.values()) == {1}, counted  # none run twice


def test_a_killed_bus_loses_nothing_and_runs_nothing_twice(tmp_path):
    with bus_and_agent(tmp_path, capacity=2, seconds=3.0) as restart:
        ids = [submit(restart.url) for _ in range(5)]
        # two run (the agent's capacity), the others wait
        wait_until(lambda: sum(runs(restart.ledger).values()) >= 2, 60,
                   what="two runs to start")
        kill_9(restart.first)  # no goodbye
        second = restart.start_second()
        assert_all_completed_once(restart.url, ids, restart.ledger, timeout=120)
        assert "leader: this bus process" in second.output()


def test_queued_executions_of_a_killed_bus_are_asked_about(tmp_path):
    """Executions queued to an agent when the bus died: the new leader asks the agent; what it
    has runs once, what it never got is dispatched again as the next attempt."""
    with bus_and_agent(tmp_path, capacity=4, seconds=0.5) as restart:
        url = restart.url
        ids = [submit(url) for _ in range(8)]
        # kill as soon as some were handed out, before all of them ran
        wait_until(lambda: any(s != "batch-status/undispatched"
                               for s in statuses(url, ids).values()), 60,
                   interval=0.02, what="a dispatch")
        kill_9(restart.first)
        # ... and, as if the bus died between claiming and sending, two more were queued to
        # the agent, which never got them
        storage = PeeweeStorage(restart.database)
        storage.open()
        try:
            agent_id = storage.list_agents()[0].instance_id
            orphans = [storage.create_execution("e2e", APPEND_JOB, {}, utcnow()).id
                       for _ in range(2)]
            claimed = storage.claim_executions(agent_id, utcnow(), 100)
            assert set(orphans) <= {e.id for e in claimed}
        finally:
            storage.close()
        ids += orphans
        second = restart.start_second()
        assert_all_completed_once(restart.url, ids, restart.ledger, timeout=120)
        # the agent said it did not have them: they went again, as attempt 2
        storage.open()
        try:
            assert [storage.get_execution(i, with_steps=False).attempt for i in orphans] == [2, 2]
        finally:
            storage.close()
        assert "it does not have it" in second.output()


def test_sigterm_drains_the_leader_and_the_follower_takes_over(tmp_path):
    """SIGTERM: the leader stops dispatching and releases the leader lock at once (the
    follower leads within ``bus.leader_retry`` and a margin, long before a lease), then exits
    cleanly; what was submitted meanwhile runs once, on the new leader's dispatch."""
    database = shared_database(tmp_path)
    ledger = tmp_path / "runs.txt"
    env = {**BUS_ENV, "JSBUS_LEADER_RETRY": "0.5"}
    first, first_url = start_bus(tmp_path, database=database, env=env)
    second, second_url = start_bus(tmp_path, database=database, env=env)
    agent = None
    try:
        assert "serves the API only" in second.output()
        agent, _ = start_agent(tmp_path, second_url, env={"JSAGENT_CAPACITY": "2"})
        wait_for_agents(second_url)
        register_append_job(second_url, ledger, seconds=0.2)
        ids = [submit(second_url) for _ in range(3)]
        assert first.stop() == 0  # SIGTERM, and wait for the exit
        assert "draining: this bus process no longer dispatches" in first.output()
        wait_until(lambda: "leader: this bus process" in second.output(), 5.0,
                   what="the follower to lead")
        ids += [submit(second_url) for _ in range(3)]
        assert_all_completed_once(second_url, ids, ledger, timeout=60)
    finally:
        stop_all(agent, first, second)
