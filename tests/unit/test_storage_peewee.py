"""The peewee storage backend against real databases.

Every test taking ``storage`` runs once per backend: SQLite files in ``tmp_path`` always, and
PostgreSQL when ``JSBUS_TEST_POSTGRES_URL`` names a scratch database (its ``public`` schema is
dropped before each test).
"""
from __future__ import annotations

import multiprocessing
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from playhouse import db_url

from jsbus.config import load_bus_config
from jsbus.errors import (AgentNotFound, ApplicationNotFound, ConfigurationError,
                          ExecutionNotFound, JobNotFound, StorageError)
from jsbus.model import (AgentInfo, AgentStatus, Application, BatchStatus, JobDefinition,
                         JobStats, LogRecord, StepDefinition)
from jsbus_plugins.storage_peewee import PeeweeStorage, jsbus_register_storage
from jsbus_plugins.storage_peewee.base import MIGRATIONS_DIR

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)
POSTGRES_URL = os.environ.get("JSBUS_TEST_POSTGRES_URL", "")
S = BatchStatus


def _backends():
    return [pytest.param("sqlite", id="sqlite"),
            pytest.param("postgresql", id="postgresql", marks=pytest.mark.skipif(
                not POSTGRES_URL, reason="set JSBUS_TEST_POSTGRES_URL to a scratch database"))]


@pytest.fixture(params=_backends())
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jsbus.db'}"
    database = db_url.connect(POSTGRES_URL)
    database.execute_sql("DROP SCHEMA public CASCADE")
    database.execute_sql("CREATE SCHEMA public")
    database.close()
    return POSTGRES_URL


@pytest.fixture
def storage(url):
    store = PeeweeStorage(url)
    store.open()
    yield store
    store.close()


def definition(name="JOB-1", steps=("STEP-1",)):
    return JobDefinition(
        id=name, restartable=False, properties={"owner": "ops"},
        steps=tuple(StepDefinition(step, f"demo.{step}", {"k": "v"},
                                   steps[i + 1] if i + 1 < len(steps) else None)
                    for i, step in enumerate(steps)),
        document={"id": name, "steps": [{"id": step} for step in steps]})


@pytest.fixture
def job(storage):
    storage.save_application(Application("demo", "a demo", ("file:///srv/demo",)))
    storage.save_job("demo", definition())
    return "demo", "JOB-1"


def agent(instance_id="agent-a", name="alpha", **changes):
    return AgentInfo(**{"instance_id": instance_id, "name": name, "host": "127.0.0.1",
                        "port": 4510, "version": "0.1.0", "os_name": "Linux", "cpu_core": 4,
                        "capacity": 2, "stats": {"cpu": {"load": 0.5}}, "last_seen": T0,
                        **changes})


def new_executions(storage, job, count):
    return [storage.create_execution(*job, {"n": str(i)}, T0).id for i in range(count)]


# -- plugin, lifecycle, errors ------------------------------------------------------------------

def test_plugin_registers_a_factory_for_the_configured_database(tmp_path):
    config = load_bus_config(environ={"JSBUS_DATA_DIR": str(tmp_path / "data")})
    [backend] = jsbus_register_storage(config=config)
    store = backend.factory(config)
    store.open()
    assert backend.name == "peewee" and isinstance(store, PeeweeStorage)
    assert (tmp_path / "data" / "jsbus.db").is_file()


def test_open_creates_missing_directories_and_is_idempotent(tmp_path):
    store = PeeweeStorage(f"sqlite:///{tmp_path / 'a' / 'b' / 'bus.db'}")
    store.open()
    store.open()
    store.ping()
    assert (tmp_path / "a" / "b" / "bus.db").is_file()
    assert store.apply_migrations() == []


def test_unusable_databases_raise_storage_or_configuration_errors(tmp_path):
    with pytest.raises(StorageError):
        PeeweeStorage(f"sqlite:///{tmp_path / 'never-opened.db'}").ping()
    with pytest.raises(StorageError):
        PeeweeStorage(f"sqlite:///{tmp_path}").open()  # a directory, not a database file
    with pytest.raises(ConfigurationError):
        PeeweeStorage("nosuchdb://host/name").open()
    with pytest.raises(ConfigurationError):
        PeeweeStorage("sqlite:///:memory:").open()


def test_reopening_applies_only_new_migrations(url, tmp_path):
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    shutil.copy(MIGRATIONS_DIR / "0001_initial.py", migrations)
    first = PeeweeStorage(url, migrations_dir=migrations)
    first.open()
    first.save_application(Application("demo"))
    (migrations / "0002_add_owner.py").write_text(
        "from peewee import CharField\n\n"
        "def up(migrator, db):\n"
        "    migrator.migrate(migrator.add_column('application', 'owner', CharField(default='')))\n")
    later = PeeweeStorage(url, migrations_dir=migrations)
    later.open()
    assert "owner" in {column.name for column in later.db.get_columns("application")}
    assert later.get_application("demo").name == "demo"  # data kept
    assert later.apply_migrations() == []


def _open_and_report(url, results):
    try:
        PeeweeStorage(url).open()
        results.put("opened")
    except Exception as exc:  # reported to the test, which names it
        results.put(repr(exc))


@pytest.mark.timeout(120)
def test_processes_opening_a_new_database_together_migrate_it_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [context.Process(target=_open_and_report, args=(url, results)) for _ in range(4)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=100) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    assert outcomes == ["opened"] * 4
    store = PeeweeStorage(url)
    store.open()
    assert store.db.execute_sql("SELECT name FROM schema_migration").fetchall() == [
        ("0001_initial",)]


def test_two_storages_in_one_process_stay_separate(tmp_path):
    one, two = (PeeweeStorage(f"sqlite:///{tmp_path / name}") for name in ("one.db", "two.db"))
    one.open()
    two.open()
    one.save_application(Application("only-in-one"))
    two.save_application(Application("only-in-two"))
    assert [app.name for app in one.list_applications()] == ["only-in-one"]
    assert [app.name for app in two.list_applications()] == ["only-in-two"]
    with pytest.raises(ApplicationNotFound):
        two.get_application("only-in-one")


# -- applications and jobs ----------------------------------------------------------------------

def test_applications_round_trip_and_replace(storage):
    saved = storage.save_application(Application("demo", "first", ("file:///a",)))
    assert saved.created_at.tzinfo == timezone.utc
    replaced = storage.save_application(Application("demo", "second", ("file:///b", "file:///c")))
    assert (replaced.description, replaced.classpath) == ("second", ("file:///b", "file:///c"))
    assert replaced.created_at == saved.created_at
    storage.save_application(Application("another"))
    assert [app.name for app in storage.list_applications()] == ["another", "demo"]
    assert storage.get_application("demo") == replaced
    with pytest.raises(ApplicationNotFound):
        storage.get_application("missing")


def test_jobs_round_trip_replace_and_list(storage, job):
    stored = storage.get_job(*job)
    assert stored.definition == definition()
    replaced, created = storage.save_job("demo", definition(steps=("A", "B")))
    assert not created and [s.id for s in replaced.definition.steps] == ["A", "B"]
    assert replaced.definition.steps[0].next == "B"
    for name in ("JOB-3", "JOB-2"):
        assert storage.save_job("demo", definition(name))[1] is True
    page, total = storage.list_jobs("demo", offset=1, limit=1)
    assert total == 3 and [j.name for j in page] == ["JOB-2"]


def test_job_lookups_of_missing_rows(storage, job):
    with pytest.raises(ApplicationNotFound):
        storage.save_job("missing", definition())
    with pytest.raises(ApplicationNotFound):
        storage.list_jobs("missing")
    for call in (storage.get_job, storage.delete_job, storage.job_stats,
                 storage.list_executions, storage.latest_execution):
        with pytest.raises(JobNotFound):
            call("demo", "missing")
    with pytest.raises(JobNotFound):
        storage.create_execution("demo", "missing", {}, T0)
    with pytest.raises(ApplicationNotFound):
        storage.create_execution("missing", "JOB-1", {}, T0)


def test_delete_job_removes_executions_steps_and_logs(storage, job):
    storage.save_job("demo", definition("KEEP"))
    kept = storage.create_execution("demo", "KEEP", {}, T0).id
    doomed = storage.create_execution(*job, {}, T0).id
    storage.start_step(doomed, "STEP-1", T0)
    storage.append_logs([LogRecord(doomed, T0, "INFO", "bye"), LogRecord(kept, T0, "INFO", "hi")])
    storage.delete_job(*job)
    with pytest.raises(JobNotFound):
        storage.get_job(*job)
    with pytest.raises(ExecutionNotFound):
        storage.get_execution(doomed)
    with pytest.raises(ExecutionNotFound):
        storage.list_logs(doomed)
    E, L, St = (storage.models.JobExecution, storage.models.ExecutionLog,
                storage.models.StepExecution)
    assert (E.select().count(), L.select().count(), St.select().count()) == (1, 1, 0)
    assert [log.message for log in storage.list_logs(kept)] == ["hi"]


def test_job_stats(storage, job):
    assert storage.job_stats(*job) == JobStats(0, 0, 0, 0.0)
    durations = [1500, 2500]
    for ms in durations:
        execution = storage.create_execution(*job, {}, T0).id
        storage.claim_execution("agent-a", T0)
        storage.transition_execution(execution, S.STARTED, start_time=T0)
        storage.transition_execution(execution, S.COMPLETED,
                                     end_time=T0 + timedelta(milliseconds=ms))
    failed = storage.create_execution(*job, {}, T0).id
    storage.claim_execution("agent-a", T0)
    storage.transition_execution(failed, S.FAILED, start_time=T0,
                                 end_time=T0 + timedelta(hours=1))
    storage.create_execution(*job, {}, T0)
    assert storage.job_stats(*job) == JobStats(total=4, success=2, failure=1, average=2000.0)


# -- executions ---------------------------------------------------------------------------------

def test_executions_round_trip_list_and_latest(storage, job):
    assert storage.latest_execution(*job) is None
    plus_two = timezone(timedelta(hours=2))
    first = storage.create_execution(*job, {"name": "world"}, T0.astimezone(plus_two))
    assert first.batch_status is S.UNDISPATCHED and first.job_parameters == {"name": "world"}
    assert first.create_time == T0 and first.create_time.tzinfo == timezone.utc
    assert storage.get_execution(first.id) == first
    ids = [first.id] + new_executions(storage, job, 3)
    page, total = storage.list_executions(*job, offset=1, limit=2)
    assert total == 4 and [e.id for e in page] == [ids[2], ids[1]]
    assert storage.latest_execution(*job).id == ids[-1]
    with pytest.raises(ExecutionNotFound):
        storage.get_execution(10_000)


def test_guarded_transitions(storage, job):
    execution = storage.create_execution(*job, {}, T0).id
    assert storage.transition_execution(execution, S.STARTING) is None  # not queued yet
    assert storage.transition_execution(execution, S.QUEUED, agent_id="agent-a").agent_id == "agent-a"
    back = storage.transition_execution(execution, S.UNDISPATCHED)
    assert (back.batch_status, back.agent_id) == (S.UNDISPATCHED, None)
    storage.claim_execution("agent-a", T0)
    started = storage.transition_execution(execution, S.STARTED, start_time=T0)
    assert storage.transition_execution(execution, S.STARTED) is None  # repeated event
    done = storage.transition_execution(execution, S.COMPLETED, end_time=T0, exit_status="OK")
    assert (done.start_time, done.end_time, done.exit_status) == (T0, T0, "OK")
    assert started.batch_status is S.STARTED and done.agent_id == "agent-a"
    for late in (S.STARTED, S.FAILED, S.STOPPED, S.ABANDONED, S.UNDISPATCHED, S.QUEUED):
        assert storage.transition_execution(execution, late) is None
    assert storage.get_execution(execution).batch_status is S.COMPLETED
    with pytest.raises(ExecutionNotFound):
        storage.transition_execution(10_000, S.STARTED)
    with pytest.raises(ValueError):
        storage.transition_execution(execution, S.UNRESTARTED)


def test_failed_execution_may_only_be_abandoned(storage, job):
    execution = storage.create_execution(*job, {}, T0).id
    storage.claim_execution("agent-a", T0)
    storage.transition_execution(execution, S.FAILED, end_time=T0)
    assert storage.transition_execution(execution, S.COMPLETED) is None
    assert storage.transition_execution(execution, S.ABANDONED).batch_status is S.ABANDONED


def test_claim_takes_the_oldest_waiting_execution(storage, job):
    assert storage.claim_execution("agent-a", T0) is None
    ids = new_executions(storage, job, 3)
    storage.save_agent(agent())
    storage.transition_execution(ids[1], S.ABANDONED)
    claimed = storage.claim_execution("agent-a", T0)
    assert (claimed.id, claimed.batch_status, claimed.agent_name) == (ids[0], S.QUEUED, "alpha")
    assert storage.count_waiting() == 1
    assert storage.claim_execution("agent-b", T0).id == ids[2]
    assert storage.claim_execution("agent-b", T0) is None
    assert [e.id for e in storage.executions_in([S.QUEUED])] == [ids[0], ids[2]]
    assert [e.id for e in storage.executions_in([S.QUEUED], agent_id="agent-b")] == [ids[2]]
    assert storage.executions_in([S.UNDISPATCHED]) == []


def test_claims_from_many_threads_are_exactly_once(storage, job):
    ids = new_executions(storage, job, 120)

    def drain(worker):
        got = []
        while (execution := storage.claim_execution(f"agent-{worker}", T0)) is not None:
            got.append(execution.id)
        return got

    with ThreadPoolExecutor(8) as pool:
        claimed = [i for got in pool.map(drain, range(8)) for i in got]
    assert sorted(claimed) == ids


def _claim_all(url, agent_id, results):
    store = PeeweeStorage(url)
    store.open()
    got = []
    while (execution := store.claim_execution(agent_id, T0)) is not None:
        got.append(execution.id)
    results.put((agent_id, got))


@pytest.mark.timeout(120)
def test_claims_from_several_processes_are_exactly_once(storage, job):
    ids = new_executions(storage, job, 300)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [context.Process(target=_claim_all, args=(storage.url, f"proc-{n}", results))
               for n in range(4)]
    for worker in workers:
        worker.start()
    by_agent = dict(results.get(timeout=100) for _ in workers)
    for worker in workers:
        worker.join(timeout=30)
    claimed = [i for got in by_agent.values() for i in got]
    assert len(claimed) == len(set(claimed)) == 300 and sorted(claimed) == ids
    for agent_id, got in by_agent.items():
        assert {e.id for e in storage.executions_in([S.QUEUED], agent_id=agent_id)} == set(got)
    assert storage.count_waiting() == 0


# -- steps and logs -----------------------------------------------------------------------------

def test_steps_start_idempotently_and_end_guarded(storage, job):
    execution = storage.create_execution(*job, {}, T0).id
    first = storage.start_step(execution, "STEP-1", T0)
    assert storage.start_step(execution, "STEP-1", T0 + timedelta(seconds=5)) == first
    second = storage.start_step(execution, "STEP-2", T0)
    ended = storage.end_step(execution, "STEP-1", S.COMPLETED, T0, "COMPLETED")
    assert (ended.batch_status, ended.end_time, ended.exit_status) == (S.COMPLETED, T0, "COMPLETED")
    assert storage.end_step(execution, "STEP-1", S.FAILED, T0, "late") is None
    assert storage.end_step(execution, "NO-SUCH-STEP", S.FAILED, T0, None) is None
    steps = storage.get_execution(execution).steps
    assert [s.id for s in steps] == [first.id, second.id] and steps[0] == ended
    assert storage.get_execution(execution, with_steps=False).steps == ()
    with pytest.raises(ExecutionNotFound):
        storage.start_step(10_000, "STEP-1", T0)
    with pytest.raises(ExecutionNotFound):
        storage.end_step(10_000, "STEP-1", S.FAILED, T0, None)


def test_logs_keep_their_order(storage, job):
    execution = storage.create_execution(*job, {}, T0).id
    records = [LogRecord(execution, T0 + timedelta(seconds=i), "INFO", f"line {i}",
                         step_name="STEP-1", logger="demo", exception="trace" if i == 3 else None)
               for i in range(1200)]
    storage.append_logs(records[:700])
    storage.append_logs(records[700:])
    storage.append_logs([])
    assert storage.list_logs(execution, limit=2000) == records
    assert storage.list_logs(execution, offset=3, limit=2) == records[3:5]
    with pytest.raises(ExecutionNotFound):
        storage.append_logs([LogRecord(10_000, T0, "INFO", "nobody's")])
    assert len(storage.list_logs(execution, limit=2000)) == 1200  # the failed batch wrote nothing


# -- agents -------------------------------------------------------------------------------------

def test_agents_round_trip_and_update(storage):
    saved = storage.save_agent(agent())
    assert saved == agent()
    updated = storage.save_agent(agent(name="renamed", running=2, status=AgentStatus.LOST,
                                       stats={}, last_seen=T0 + timedelta(seconds=5)))
    assert (updated.name, updated.running, updated.status) == ("renamed", 2, AgentStatus.LOST)
    storage.save_agent(agent("agent-b", "beta"))
    assert [a.instance_id for a in storage.list_agents()] == ["agent-b", "agent-a"]
    assert storage.get_agent("agent-a") == updated
    with pytest.raises(AgentNotFound):
        storage.get_agent("missing")
    with pytest.raises(AgentNotFound):
        storage.agent_executions("missing")


def test_agent_executions_newest_first_with_agent_names(storage, job):
    storage.save_agent(agent())
    ids = new_executions(storage, job, 4)
    for _ in ids[:3]:
        storage.claim_execution("agent-a", T0)
    recent = storage.agent_executions("agent-a", limit=2)
    assert [e.id for e in recent] == [ids[2], ids[1]]
    assert {e.agent_name for e in recent} == {"alpha"}
    assert storage.get_execution(ids[0]).agent_name == "alpha"
    assert storage.get_execution(ids[3]).agent_name is None


# -- leader lock --------------------------------------------------------------------------------

def test_leader_lock_is_exclusive_reentrant_and_released(storage):
    first, second = storage.leader_lock(), storage.leader_lock()
    assert first.try_acquire() and first.try_acquire() and first.held
    assert not second.try_acquire() and not second.held
    first.release()
    first.release()  # no-op
    assert not first.held
    assert second.try_acquire()
    second.release()


def _try_leader_lock(url, results):
    lock = PeeweeStorage(url).leader_lock()
    results.put(lock.try_acquire())
    lock.release()


@pytest.mark.timeout(60)
def test_leader_lock_excludes_another_process(storage):
    context = multiprocessing.get_context("spawn")
    lock = storage.leader_lock()
    assert lock.try_acquire()

    def other_process_gets_lock():
        results = context.Queue()
        process = context.Process(target=_try_leader_lock, args=(storage.url, results))
        process.start()
        acquired = results.get(timeout=50)
        process.join(timeout=10)
        return acquired

    assert other_process_gets_lock() is False
    lock.release()
    assert other_process_gets_lock() is True
