"""The peewee storage backend against real databases.

Every test taking ``storage`` runs once per backend (see ``conftest.py``): SQLite files in
``tmp_path`` always, and PostgreSQL when ``JSBUS_TEST_POSTGRES_URL`` names a scratch database.
The scheduling part (calendars, schedules, the fire-slot ledger) is in
``test_storage_schedules.py``.
"""
from __future__ import annotations

import importlib.util
import json
import multiprocessing
import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta, timezone

import pytest

from jsbus.config import load_bus_config
from jsbus.errors import (AgentNotFound, ApplicationNotFound, ConfigurationError, Conflict,
                          ExecutionNotFound, JobNotFound, StorageError, ValidationError)
from jsbus.jsl.codec import job_from_document, job_to_document
from jsbus.jsl.model import (Chunk, Decision, ExceptionClasses, Flow, Partition, PartitionPlan,
                             Ref, Split, Step, Transition)
from jsbus.model import (EXECUTION_TRANSITIONS, AgentInfo, AgentStatus, Application,
                         BatchStatus, Checkpoint, JobDefinition, JobStats, LogRecord)
from jsbus_plugins.storage_peewee import PeeweeStorage, jsbus_register_storage
from jsbus_plugins.storage_peewee.base import MIGRATIONS_DIR

from .conftest import T0, definition

S = BatchStatus
MIGRATIONS = [("0001_initial",), ("0002_instances_checkpoints",), ("0003_schedules",),
              ("0004_revisions_artifacts",), ("0005_agent_blocks_and_stats",),
              ("0006_notifications_time_monitors",), ("0007_test_executions",),
              ("0008_users_tokens",), ("0009_agent_trust",), ("0010_app_builtins",),
              ("0011_attempts",), ("0012_scale_indexes",)]


def rich_definition(name="RICH"):
    """Every kind of element the JSL model has: chunks, partitions, flows, splits, decisions."""
    load = Step("load", chunk=Chunk(
        reader=Ref("demo.Reader", {"file": "in.csv"}), writer=Ref("demo.Writer"),
        processor=Ref("demo.Processor"), item_count=50, skip_limit=3,
        skippable=ExceptionClasses(include=("ValueError",))),
        partition=Partition(plan=PartitionPlan(2, threads=2, properties=({"p": "0"}, {"p": "1"}))),
        start_limit=3, listeners=(Ref("demo.Listener"),),
        transitions=(Transition("stop", "HALT", exit_status="HALTED", restart="check"),
                     Transition("next", "*", to="check")))
    check = Decision("check", Ref("demo.Decider", {"x": "1"}),
                     transitions=(Transition("end", "DONE"), Transition("next", "*", to="both")))
    both = Split("both", flows=(Flow("f1", (Step("a", batchlet=Ref("demo.A")),)),
                                Flow("f2", (Step("b", batchlet=Ref("demo.B")),))))
    return JobDefinition(id=name, elements=(load, check, both), properties={"env": "test"},
                         listeners=(Ref("demo.JobListener"),))


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
    # A row as 0001's schema has it (the models of today need the later migrations).
    first.db.execute_sql("INSERT INTO application (name, description, classpath, created_at, "
                         "updated_at) VALUES ('demo', '', '[]', '2024-03-01 12:00:00', "
                         "'2024-03-01 12:00:00')")
    (migrations / "0002_add_owner.py").write_text(
        "from peewee import CharField\n\n"
        "def up(migrator, db):\n"
        "    migrator.migrate(migrator.add_column('application', 'owner', CharField(default='')))\n")
    later = PeeweeStorage(url, migrations_dir=migrations)
    later.open()
    assert "owner" in {column.name for column in later.db.get_columns("application")}
    rows = later.db.execute_sql("SELECT name FROM application").fetchall()
    assert [tuple(row) for row in rows] == [("demo",)]  # data kept
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
    assert store.db.execute_sql(
        "SELECT name FROM schema_migration ORDER BY name").fetchall() == MIGRATIONS


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


# -- upgrade from 0001 ----------------------------------------------------------------------------

OLD_DOCUMENT = {"id": "JOB-OLD", "restartable": False, "properties": {"owner": "ops"},
                "steps": [{"id": "S1", "batchlet": {"ref": "demo.One", "properties": {"k": "v"}},
                           "next": "S2"},
                          {"id": "S2", "batchlet": {"ref": "demo:Two"}, "properties": {"p": "1"}}]}


def old_definition(name, steps, document, restartable=True):
    """A ``job.definition`` as 0001 wrote it: the flat fields beside the registered document."""
    return json.dumps({"id": name, "restartable": restartable, "properties": {"owner": "ops"},
                       "steps": [{"id": step, "batchlet_ref": ref, "properties": props,
                                  "next": nxt} for step, ref, props, nxt in steps],
                       "document": document})


def database_at_0001(url, tmp_path):
    """A database migrated to 0001 only, and 0001's own frozen tables bound to it."""
    migrations = tmp_path / "only-0001"
    migrations.mkdir()
    shutil.copy(MIGRATIONS_DIR / "0001_initial.py", migrations)
    store = PeeweeStorage(url, migrations_dir=migrations)
    store.open()
    spec = importlib.util.spec_from_file_location("migration_0001",
                                                  MIGRATIONS_DIR / "0001_initial.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return store, {model.__name__: model for model in module._tables(store.db)}


def test_upgrade_from_0001_converts_jobs_and_keeps_executions(url, tmp_path):
    old, tables = database_at_0001(url, tmp_path)
    naive = T0.replace(tzinfo=None)
    tables["Application"].insert(name="demo", created_at=naive, updated_at=naive).execute()
    Job, E, St, L = (tables[name] for name in ("Job", "JobExecution", "StepExecution",
                                               "ExecutionLog"))
    Job.insert(app="demo", name="JOB-OLD", created_at=naive, updated_at=naive,
               definition=old_definition("JOB-OLD", [("S1", "demo.One", {"k": "v"}, "S2"),
                                                     ("S2", "demo:Two", {"p": "1"}, None)],
                                         OLD_DOCUMENT, restartable=False)).execute()
    Job.insert(app="demo", name="JOB-NODOC", created_at=naive, updated_at=naive,
               definition=old_definition("JOB-NODOC", [("S1", "demo.One", {"k": "v"}, None)],
                                         {})).execute()
    done = E.insert(app="demo", job="JOB-OLD", batch_status="completed", job_parameters="{}",
                    create_time=naive, agent_id="agent-a").execute()
    failed = E.insert(app="demo", job="JOB-OLD", batch_status="failed",
                      job_parameters='{"n": "1"}', create_time=naive).execute()
    St.insert(execution=done, step_name="S1", batch_status="completed", start_time=naive,
              end_time=naive, exit_status="COMPLETED").execute()
    St.insert(execution=failed, step_name="S1", batch_status="started",
              start_time=naive).execute()
    for i, step in enumerate(("S1", None, "S1", "S2")):
        L.insert(execution=done, step_name=step, time=naive, level="INFO",
                 message=f"line {i}").execute()
    old.close()

    store = PeeweeStorage(url)
    store.open()
    assert store.db.execute_sql(
        "SELECT name FROM schema_migration ORDER BY name").fetchall() == MIGRATIONS
    converted = job_from_document(OLD_DOCUMENT)
    assert store.get_job("demo", "JOB-OLD").definition == converted
    assert converted.elements[1].properties == {"p": "1"}  # the document's, not the flat merge
    J = store.models.Job
    assert J.get(J.name == "JOB-OLD").definition == job_to_document(converted)
    assert store.get_job("demo", "JOB-NODOC").definition == JobDefinition(
        "JOB-NODOC", (Step("S1", batchlet=Ref("demo.One", {"k": "v"})),),
        properties={"owner": "ops"})

    execution = store.get_execution(done)
    assert (execution.instance_id, execution.restart_position, execution.restarted_from,
            execution.create_time) == (done, None, None, T0)
    assert [(s.step_name, s.metrics, s.persistent_user_data) for s in execution.steps] == [
        ("S1", {}, None)]
    assert store.get_execution(failed).instance_id == failed
    assert [log.message for log in store.list_logs(done, step_name="S1")] == ["line 0", "line 2"]
    assert store.count_logs(done) == 4
    log_index = [index.columns for index in store.db.get_indexes("execution_log")]
    assert ["execution_id", "step_name", "id"] in log_index

    ended = store.end_step(failed, "S1", S.FAILED, T0, "boom", {"read-count": 2}, [1])
    assert (ended.metrics, ended.persistent_user_data) == ({"read-count": 2}, [1])
    restart = store.create_execution("demo", "JOB-OLD", {}, T0, restart_of=failed)
    assert (restart.instance_id, restart.restarted_from) == (failed, failed)
    store.save_checkpoint(Checkpoint(failed, "S1", reader=7, execution_id=restart.id))
    assert [c.reader for c in store.list_checkpoints(failed)] == [7]
    assert [s.execution_id for s in store.instance_steps(failed)] == [failed]
    fresh = store.create_execution("demo", "JOB-NODOC", {}, T0)
    assert fresh.instance_id == fresh.id


def test_upgrade_rolls_back_when_a_job_cannot_be_converted(url, tmp_path):
    old, tables = database_at_0001(url, tmp_path)
    naive = T0.replace(tzinfo=None)
    tables["Application"].insert(name="demo", created_at=naive, updated_at=naive).execute()
    tables["Job"].insert(app="demo", name="BAD", created_at=naive, updated_at=naive,
                         definition=old_definition("BAD", [("S1", "", {}, None)],
                                                   {"id": "BAD"})).execute()
    old.close()
    store = PeeweeStorage(url)
    with pytest.raises(StorageError, match="demo/BAD"):
        store.open()
    assert store.db.execute_sql("SELECT name FROM schema_migration").fetchall() == [
        ("0001_initial",)]
    columns = {column.name for column in store.db.get_columns("job_execution")}
    assert "instance_id" not in columns and not store.db.table_exists("checkpoint")


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
    assert not created and [s.id for s in replaced.definition.steps()] == ["A", "B"]
    assert replaced.definition.elements[0].next == "B"
    for name in ("JOB-3", "JOB-2"):
        assert storage.save_job("demo", definition(name))[1] is True
    page, total = storage.list_jobs("demo", offset=1, limit=1)
    assert total == 3 and [j.name for j in page] == ["JOB-2"]


def test_job_pages_filter_by_name_case_sensitively_in_code_point_order(storage, job):
    for name in ("b-night", "B-day", "a-night", "Nightly-x"):
        storage.save_job("demo", definition(name))
    page, total = storage.list_jobs("demo", 0, 10, names=["night", "day"])
    assert total == 3 and [j.name for j in page] == ["B-day", "a-night", "b-night"]
    page, total = storage.list_jobs("demo", 1, 2, names=["night", "day"], descending=True)
    assert total == 3 and [j.name for j in page] == ["a-night", "B-day"]
    assert storage.list_jobs("demo", 0, 10, names=["NIGHT"]) == ([], 0)


def test_job_definitions_are_stored_in_their_json_form(storage):
    storage.save_application(Application("demo"))
    saved, created = storage.save_job("demo", rich_definition())
    assert created and saved.definition == rich_definition()
    assert storage.get_job("demo", "RICH").definition == rich_definition()
    J = storage.models.Job
    assert J.get(J.name == "RICH").definition == job_to_document(rich_definition())


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


def test_delete_job_removes_executions_steps_logs_and_checkpoints(storage, job):
    storage.save_job("demo", definition("KEEP"))
    kept = storage.create_execution("demo", "KEEP", {}, T0).id
    doomed = storage.create_execution(*job, {}, T0).id
    storage.claim_execution("agent-a", T0)
    storage.transition_execution(doomed, S.FAILED)
    restart = storage.create_execution(*job, {}, T0, restart_of=doomed).id
    storage.start_step(doomed, "STEP-1", T0)
    storage.start_step(restart, "STEP-1", T0)
    storage.save_checkpoint(Checkpoint(doomed, "STEP-1", reader=1, execution_id=restart))
    storage.save_checkpoint(Checkpoint(kept, "STEP-1", reader=2, execution_id=kept))
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
    assert [c.reader for c in storage.list_checkpoints(kept)] == [2]
    assert storage.models.Checkpoint.select().count() == 1


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
    for late in (to for to, sources in EXECUTION_TRANSITIONS.items() if S.COMPLETED not in sources):
        assert storage.transition_execution(execution, late) is None
    assert storage.get_execution(execution).batch_status is S.COMPLETED
    with pytest.raises(ExecutionNotFound):
        storage.transition_execution(10_000, S.STARTED)
    with pytest.raises(ValueError):
        storage.transition_execution(execution, S.UNRESTARTED)


def test_every_guarded_move_follows_the_transition_table(storage, job):
    E = storage.models.JobExecution
    execution = storage.create_execution(*job, {}, T0).id
    for to in BatchStatus:
        for source in BatchStatus:
            E.update(batch_status=source).where(E.id == execution).execute()
            if to not in EXECUTION_TRANSITIONS:
                with pytest.raises(ValueError):
                    storage.transition_execution(execution, to)
                continue
            moved = storage.transition_execution(execution, to)
            assert (moved is not None) == (source in EXECUTION_TRANSITIONS[to]), (source, to)
            now = storage.get_execution(execution, with_steps=False).batch_status
            assert now is (to if moved is not None else source)


def test_restarts_continue_the_job_instance(storage, job):
    storage.save_agent(agent())
    first = storage.create_execution(*job, {"run": "1"}, T0)
    assert (first.batch_status, first.instance_id, first.restarted_from,
            first.restart_position) == (S.UNDISPATCHED, first.id, None, None)
    storage.claim_execution("agent-a", T0)
    failed = storage.transition_execution(first.id, S.FAILED, end_time=T0, exit_status="boom",
                                          restart_position="STEP-2")
    assert failed.restart_position == "STEP-2"
    abandoned_elsewhere = storage.create_execution(*job, {}, T0)
    second = storage.create_execution(*job, {"run": "2"}, T0, restart_of=first.id)
    assert (second.batch_status, second.instance_id, second.restarted_from,
            second.job_parameters) == (S.UNRESTARTED, first.id, first.id, {"run": "2"})
    assert storage.get_execution(first.id).restart_position == "STEP-2"  # kept on the first
    assert storage.count_waiting() == 2
    assert storage.latest_instance_execution(first.id) == second
    storage.transition_execution(abandoned_elsewhere.id, S.ABANDONED)
    claimed = storage.claim_execution("agent-a", T0)
    assert (claimed.id, claimed.batch_status, claimed.instance_id, claimed.restarted_from,
            claimed.agent_name) == (second.id, S.QUEUED, first.id, first.id, "alpha")
    storage.transition_execution(second.id, S.STOPPING)
    storage.transition_execution(second.id, S.STOPPED, exit_status="STOPPED",
                                 restart_position="load")
    third = storage.create_execution(*job, {}, T0, restart_of=second.id)
    assert (third.instance_id, third.restarted_from) == (first.id, second.id)
    latest = storage.latest_instance_execution(first.id)
    assert (latest.id, latest.steps) == (third.id, ())
    assert storage.get_execution(second.id).restart_position == "load"
    assert storage.latest_instance_execution(abandoned_elsewhere.id).id == abandoned_elsewhere.id
    with pytest.raises(ExecutionNotFound):
        storage.latest_instance_execution(second.id)  # an execution, not an instance
    page, total = storage.list_executions(*job)
    assert total == 4 and [e.instance_id for e in page] == [first.id, first.id,
                                                            abandoned_elsewhere.id, first.id]


def test_a_restart_must_continue_the_latest_execution_of_its_job(storage, job):
    first = storage.create_execution(*job, {}, T0).id
    storage.claim_execution("agent-a", T0)
    storage.transition_execution(first, S.FAILED)
    storage.save_job("demo", definition("OTHER"))
    with pytest.raises(ValidationError):
        storage.create_execution("demo", "OTHER", {}, T0, restart_of=first)
    with pytest.raises(ExecutionNotFound):
        storage.create_execution(*job, {}, T0, restart_of=10_000)
    with pytest.raises(JobNotFound):
        storage.create_execution("demo", "missing", {}, T0, restart_of=first)
    second = storage.create_execution(*job, {}, T0, restart_of=first).id
    with pytest.raises(Conflict):
        storage.create_execution(*job, {}, T0, restart_of=first)  # superseded by second
    assert [e.id for e in storage.list_executions(*job)[0]] == [second, first]


def test_concurrent_restarts_of_one_execution_create_one(storage, job):
    first = storage.create_execution(*job, {}, T0).id
    storage.claim_execution("agent-a", T0)
    storage.transition_execution(first, S.FAILED)

    def restart(_):
        try:
            return storage.create_execution(*job, {}, T0, restart_of=first).id
        except Conflict:
            return None

    with ThreadPoolExecutor(8) as pool:
        made = [i for i in pool.map(restart, range(16)) if i is not None]
    assert len(made) == 1
    assert storage.latest_instance_execution(first).id == made[0]
    assert storage.list_executions(*job)[1] == 2


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


def test_end_step_stores_metrics_and_persistent_user_data(storage, job):
    execution = storage.create_execution(*job, {}, T0).id
    values = {"number": 42, "text": "x", "list": [1, "two", None], "object": {"k": {"n": [1]}},
              "false": False, "none": None}
    for name, value in values.items():
        started = storage.start_step(execution, name, T0)
        assert (started.metrics, started.persistent_user_data) == ({}, None)
        ended = storage.end_step(execution, name, S.COMPLETED, T0, "COMPLETED",
                                 metrics={"read-count": 3, "write-count": 2},
                                 persistent_user_data=value)
        assert ended.metrics == {"read-count": 3, "write-count": 2}
        assert ended.persistent_user_data == value
        assert type(ended.persistent_user_data) is type(value)
    storage.start_step(execution, "plain", T0)
    plain = storage.end_step(execution, "plain", S.FAILED, T0, None)
    assert (plain.metrics, plain.persistent_user_data, plain.exit_status) == ({}, None, None)
    assert storage.end_step(execution, "number", S.FAILED, T0, "late", metrics={"read-count": 9},
                            persistent_user_data=0) is None  # a refused end writes nothing
    steps = {step.step_name: step for step in storage.get_execution(execution).steps}
    assert {name: steps[name].persistent_user_data for name in values} == values
    assert steps["number"].metrics == {"read-count": 3, "write-count": 2}
    assert steps["number"].batch_status is S.COMPLETED


def test_instance_steps_span_restarts(storage, job):
    first = storage.create_execution(*job, {}, T0).id
    other = storage.create_execution(*job, {}, T0).id
    storage.claim_execution("agent-a", T0)
    storage.start_step(other, "ELSEWHERE", T0)
    storage.start_step(first, "STEP-1", T0)
    storage.end_step(first, "STEP-1", S.COMPLETED, T0, "COMPLETED", {"read-count": 1}, "ok")
    storage.start_step(first, "STEP-2", T0)
    storage.end_step(first, "STEP-2", S.FAILED, T0, "boom", {"read-count": 5}, {"at": 5})
    storage.transition_execution(first, S.FAILED, restart_position="STEP-2")
    restart = storage.create_execution(*job, {}, T0, restart_of=first).id
    assert storage.instance_steps(first) == list(storage.get_execution(first).steps)
    storage.start_step(restart, "STEP-2", T0 + timedelta(seconds=1))
    storage.end_step(restart, "STEP-2", S.COMPLETED, T0, "COMPLETED", {"read-count": 7})
    steps = storage.instance_steps(first)
    assert [(s.execution_id, s.step_name, s.batch_status, s.metrics, s.persistent_user_data)
            for s in steps] == [
        (first, "STEP-1", S.COMPLETED, {"read-count": 1}, "ok"),
        (first, "STEP-2", S.FAILED, {"read-count": 5}, {"at": 5}),
        (restart, "STEP-2", S.COMPLETED, {"read-count": 7}, None)]
    assert [s.step_name for s in storage.instance_steps(other)] == ["ELSEWHERE"]
    fresh = storage.create_execution(*job, {}, T0).id
    assert storage.instance_steps(fresh) == []
    with pytest.raises(ExecutionNotFound):
        storage.instance_steps(restart)  # an execution, not an instance
    with pytest.raises(ExecutionNotFound):
        storage.instance_steps(10_000)


def test_checkpoints_are_upserted_per_step_and_partition(storage, job):
    first = storage.create_execution(*job, {}, T0).id
    assert storage.list_checkpoints(first) == []
    storage.save_checkpoint(Checkpoint(first, "load", reader=500, metrics={"read-count": 500},
                                       execution_id=first, time=T0))
    load = Checkpoint(first, "load", reader={"offset": 1000, "file": "in.csv"},
                      writer=["a", 1, None], persistent_user_data="note",
                      metrics={"read-count": 1000, "commit-count": 2}, done=True,
                      execution_id=first, time=T0 + timedelta(seconds=5))
    storage.save_checkpoint(load)
    parts = [Checkpoint(first, "part", partition, reader=value,
                        persistent_user_data=[1, {"a": None}], execution_id=first, time=T0)
             for partition, value in ((1, None), (0, 3.5))]
    for part in parts:
        storage.save_checkpoint(part)
    storage.save_checkpoint(Checkpoint(first, "a-step", reader="text", writer=0,
                                       persistent_user_data=False))
    got = storage.list_checkpoints(first)
    assert got[1:] == [load, parts[1], parts[0]]
    assert (got[0].step_name, got[0].reader, got[0].writer, got[0].persistent_user_data,
            got[0].metrics, got[0].done, got[0].execution_id) == (
        "a-step", "text", 0, False, {}, False, None)
    assert got[0].time is not None and got[0].time.tzinfo == timezone.utc  # stamped when saved
    if storage.sqlite:
        assert storage.db.pragma("synchronous") == 1  # back to normal after the synced commit

    storage.claim_execution("agent-a", T0)
    storage.transition_execution(first, S.FAILED)
    restart = storage.create_execution(*job, {}, T0, restart_of=first).id
    storage.save_checkpoint(Checkpoint(first, "load", reader=1500, execution_id=restart, time=T0))
    assert [(c.reader, c.execution_id, c.done, c.metrics) for c in storage.list_checkpoints(first)
            if c.step_name == "load"] == [(1500, restart, False, {})]
    assert storage.models.Checkpoint.select().count() == 4

    with pytest.raises(ExecutionNotFound):
        storage.save_checkpoint(Checkpoint(10_000, "load", reader=1))
    with pytest.raises(ExecutionNotFound):
        storage.save_checkpoint(Checkpoint(first, "load", reader=1, execution_id=10_000))
    with pytest.raises(ExecutionNotFound):
        storage.list_checkpoints(10_000)


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


def test_logs_filter_by_step_and_count(storage, job):
    execution, other = new_executions(storage, job, 2)
    records = [LogRecord(execution, T0 + timedelta(seconds=i), "INFO", f"line {i}",
                         step_name=(None, "A", "B")[i % 3]) for i in range(30)]
    storage.append_logs(records + [LogRecord(other, T0, "INFO", "elsewhere", step_name="A")])
    of_a = [r for r in records if r.step_name == "A"]
    of_b = [r for r in records if r.step_name == "B"]
    assert storage.list_logs(execution, step_name="A") == of_a
    assert storage.list_logs(execution, offset=2, limit=3, step_name="B") == of_b[2:5]
    assert storage.list_logs(execution, step_name="nope") == []
    assert storage.list_logs(execution) == records
    assert storage.count_logs(execution) == 30
    assert (storage.count_logs(execution, "A"), storage.count_logs(execution, step_name="B"),
            storage.count_logs(execution, step_name="nope")) == (10, 10, 0)
    assert storage.count_logs(other) == 1
    with pytest.raises(ExecutionNotFound):
        storage.count_logs(10_000)
    with pytest.raises(ExecutionNotFound):
        storage.list_logs(10_000, step_name="A")


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
