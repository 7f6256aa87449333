"""The agent part of the peewee storage: blocked agents and the stats history, on every backend
(see ``conftest.py``)."""
from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import timedelta

import pytest

from jsbus.errors import AgentNotFound
from jsbus.model import AgentInfo, AgentStatus
from jsbus_plugins.storage_peewee import PeeweeStorage
from jsbus_plugins.storage_peewee.base import MIGRATIONS_DIR

from .conftest import T0

SEC = timedelta(seconds=1)
DAY = timedelta(days=1)


def agent(instance_id="agent-a", name="alpha", **changes):
    return AgentInfo(**{"instance_id": instance_id, "name": name, "host": "127.0.0.1",
                        "port": 4510, "capacity": 2, "stats": {"cpu": {"load": 0.5}},
                        "last_seen": T0, **changes})


def sample(n):
    return {"memory": {"physical": {"free": n, "total": 100}}}


def record(storage, instance_id, time, values, max_samples=1440, oldest=None, spacing=0.0):
    return storage.record_agent_sample(instance_id, time, values, max_samples=max_samples,
                                       oldest=oldest or time - DAY, spacing=spacing)


# -- blocked agents -----------------------------------------------------------------------------

def test_a_new_agent_is_not_blocked_and_a_block_round_trips(storage):
    assert storage.save_agent(agent()).blocked is False
    storage.save_agent(agent("agent-b", "beta"))
    blocked = storage.set_agent_blocked("agent-a", True)
    assert blocked == replace(agent(), blocked=True)
    assert storage.set_agent_blocked("agent-a", True) == blocked  # idempotent
    assert storage.get_agent("agent-a").blocked is True
    assert [(a.instance_id, a.blocked) for a in storage.list_agents()] == [
        ("agent-a", True), ("agent-b", False)]
    assert storage.set_agent_blocked("agent-a", False).blocked is False
    assert storage.set_agent_blocked("agent-a", False).blocked is False


def test_saving_an_agent_never_changes_its_block(storage):
    storage.save_agent(agent())
    storage.set_agent_blocked("agent-a", True)
    # A heartbeat, or a lease check saving an agent it read before the block.
    saved = storage.save_agent(agent(name="renamed", running=1, status=AgentStatus.LOST,
                                     last_seen=T0 + 5 * SEC, blocked=False))
    assert (saved.name, saved.running, saved.status, saved.blocked) == (
        "renamed", 1, AgentStatus.LOST, True)
    storage.set_agent_blocked("agent-a", False)
    assert storage.save_agent(agent(blocked=True)).blocked is False
    assert storage.save_agent(agent("agent-new", blocked=True)).blocked is False


def test_blocking_an_unknown_agent_raises_and_creates_nothing(storage):
    with pytest.raises(AgentNotFound) as raised:
        storage.set_agent_blocked("missing", True)
    assert raised.value.key == "missing"
    assert storage.list_agents() == []


def test_a_block_is_stored_for_every_storage_on_the_database(storage, url):
    storage.save_agent(agent())
    storage.set_agent_blocked("agent-a", True)
    other = PeeweeStorage(url)
    other.open()
    try:
        assert other.get_agent("agent-a").blocked is True
    finally:
        other.close()


def test_upgrade_from_0004_keeps_agents_unblocked(url, tmp_path):
    migrations = tmp_path / "up-to-0004"
    migrations.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("000[1-4]_*.py")):
        shutil.copy(path, migrations)
    old = PeeweeStorage(url, migrations_dir=migrations)
    old.open()
    naive = T0.replace(tzinfo=None)
    old.db.execute_sql(
        "INSERT INTO agent (instance_id, name, host, port, version, os_name, os_version, "
        "cpu_arch, cpu_core, capacity, running, stats, status, last_seen) "
        "VALUES ('agent-old', 'old', '127.0.0.1', 4510, '', '', '', '', 2, 1, 0, '{}', "
        "'ready', %s)" % ("?" if old.sqlite else "%s"), (naive,))
    assert not old.db.table_exists("agent_stat")
    old.close()

    store = PeeweeStorage(url)
    store.open()
    try:
        assert store.get_agent("agent-old").blocked is False
        assert store.set_agent_blocked("agent-old", True).blocked is True
        assert store.agent_samples("agent-old") == []
        indexes = {tuple(i.columns) for i in store.db.get_indexes("agent_stat")}
        assert ("agent", "time") in indexes
    finally:
        store.close()


# -- stats history ------------------------------------------------------------------------------

def test_samples_read_back_oldest_first_per_agent(storage):
    storage.save_agent(agent())
    storage.save_agent(agent("agent-b", "beta"))
    for i in range(3):
        assert record(storage, "agent-a", T0 + i * SEC, sample(i)) is True
    record(storage, "agent-b", T0, sample(99))
    assert storage.agent_samples("agent-a") == [(T0 + i * SEC, sample(i)) for i in range(3)]
    assert storage.agent_samples("agent-b") == [(T0, sample(99))]
    assert storage.agent_samples("agent-a")[0][0].tzinfo is not None


def test_samples_since_and_limit(storage):
    storage.save_agent(agent())
    for i in range(6):
        record(storage, "agent-a", T0 + i * SEC, sample(i))
    assert [v for _, v in storage.agent_samples("agent-a", since=T0 + 4 * SEC)] == [
        sample(4), sample(5)]
    assert [v for _, v in storage.agent_samples("agent-a", limit=2)] == [sample(4), sample(5)]
    assert [v for _, v in storage.agent_samples("agent-a", since=T0 + SEC, limit=10)] == [
        sample(i) for i in range(1, 6)]
    assert storage.agent_samples("agent-a", since=T0 + 10 * SEC) == []


def test_samples_of_an_unknown_agent_raise(storage):
    with pytest.raises(AgentNotFound):
        storage.agent_samples("missing")


def test_a_sample_sooner_than_the_spacing_is_skipped(storage):
    storage.save_agent(agent())
    assert record(storage, "agent-a", T0, sample(0), spacing=60) is True
    assert record(storage, "agent-a", T0 + 59 * SEC, sample(1), spacing=60) is False
    assert record(storage, "agent-a", T0 + 60 * SEC, sample(2), spacing=60) is True
    assert [v for _, v in storage.agent_samples("agent-a")] == [sample(0), sample(2)]


def test_only_the_newest_max_samples_are_kept(storage):
    storage.save_agent(agent())
    storage.save_agent(agent("agent-b", "beta"))
    record(storage, "agent-b", T0, sample(99))
    for i in range(8):
        record(storage, "agent-a", T0 + i * SEC, sample(i), max_samples=3)
        assert len(storage.agent_samples("agent-a")) == min(i + 1, 3)
    assert [v for _, v in storage.agent_samples("agent-a")] == [sample(5), sample(6), sample(7)]
    assert storage.agent_samples("agent-b") == [(T0, sample(99))]  # other agents keep theirs


def test_max_samples_counts_samples_taken_at_the_same_time(storage):
    storage.save_agent(agent())
    for i in range(4):
        record(storage, "agent-a", T0, sample(i), max_samples=2)
    assert [v for _, v in storage.agent_samples("agent-a")] == [sample(2), sample(3)]


def test_samples_older_than_the_retention_are_forgotten(storage):
    storage.save_agent(agent())
    storage.save_agent(agent("agent-b", "beta"))
    record(storage, "agent-b", T0, sample(99))
    for hour in range(5):
        record(storage, "agent-a", T0 + timedelta(hours=hour), sample(hour))
    newest = T0 + timedelta(hours=5)
    record(storage, "agent-a", newest, sample(5), oldest=newest - timedelta(hours=2))
    assert [t for t, _ in storage.agent_samples("agent-a")] == [
        T0 + timedelta(hours=h) for h in (3, 4, 5)]
    assert storage.agent_samples("agent-b") == [(T0, sample(99))]
