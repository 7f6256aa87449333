"""The scheduling part of the peewee storage: exclusive jobs, scheduled executions, calendars,
schedules and the fire-slot ledger, on every backend (see ``conftest.py``)."""
from __future__ import annotations

import importlib.util
import json
import multiprocessing
import random
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

import pytest

from jsbus.errors import (ApplicationNotFound, CalendarNotFound, Conflict, JobNotFound,
                          ScheduleNotFound)
from jsbus.jsl.codec import job_to_document
from jsbus.model import (Application, BatchStatus, Calendar, FireSlot, MisfirePolicy,
                         OverlapPolicy, Schedule, SlotStatus)
from jsbus_plugins.storage_peewee import PeeweeStorage
from jsbus_plugins.storage_peewee.base import MIGRATIONS_DIR

from .conftest import T0, definition

S = BatchStatus
SEC = timedelta(seconds=1)
WEEKEND = (True, False, False, False, False, False, True)


def slots(count, start=T0):
    return [start + i * 60 * SEC for i in range(count)]


def schedule(app="demo", job="JOB-1", **changes):
    return Schedule(**{"app": app, "job": job, "cron": "0 0 12 * * ?", **changes})


def add_job(storage, name):
    storage.save_job("demo", definition(name))
    return "demo", name


# -- upgrade from 0002 ----------------------------------------------------------------------------

def test_upgrade_from_0002_adds_the_scheduling_tables_and_columns(url, tmp_path):
    migrations = tmp_path / "up-to-0002"
    migrations.mkdir()
    for name in ("0001_initial.py", "0002_instances_checkpoints.py"):
        shutil.copy(MIGRATIONS_DIR / name, migrations)
    old = PeeweeStorage(url, migrations_dir=migrations)
    old.open()
    spec = importlib.util.spec_from_file_location("migration_0001",
                                                  MIGRATIONS_DIR / "0001_initial.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tables = {model.__name__: model for model in module._tables(old.db)}  # 0002 only adds to them
    naive = T0.replace(tzinfo=None)
    tables["Application"].insert(name="demo", created_at=naive, updated_at=naive).execute()
    tables["Job"].insert(app="demo", name="JOB-1", created_at=naive, updated_at=naive,
                         definition=json.dumps(job_to_document(definition()))).execute()
    done = tables["JobExecution"].insert(app="demo", job="JOB-1", batch_status="completed",
                                         job_parameters="{}", create_time=naive).execute()
    assert "exclusive" not in {c.name for c in old.db.get_columns("job")}
    old.close()

    store = PeeweeStorage(url)
    store.open()
    applied = store.db.execute_sql("SELECT name FROM schema_migration ORDER BY name").fetchall()
    assert [tuple(row) for row in applied][:3] == [
        ("0001_initial",), ("0002_instances_checkpoints",), ("0003_schedules",)]
    job = store.get_job("demo", "JOB-1")
    assert (job.exclusive, job.definition, job.created_at) == (False, definition(), T0)
    execution = store.get_execution(done)
    assert (execution.not_before, execution.slot, execution.batch_status) == (None, None,
                                                                             S.COMPLETED)
    indexes = {tuple(index.columns): index.unique for index in store.db.get_indexes("fire_slot")}
    assert indexes.get(("app", "job", "slot")) is True
    indexes = {tuple(index.columns): index.unique for index in store.db.get_indexes("schedule")}
    assert indexes.get(("app", "job")) is True and ("calendar",) in indexes
    store.save_calendar(Calendar("cal"))
    store.save_schedule(schedule(calendar="cal"))
    assert store.claim_slot("demo", "JOB-1", T0, T0)
    assert store.set_job_exclusive("demo", "JOB-1", True).exclusive is True
    assert store.apply_migrations() == []


# -- exclusive jobs and scheduled executions -------------------------------------------------------

def test_set_job_exclusive_survives_a_replaced_definition(storage, job):
    assert storage.get_job(*job).exclusive is False
    assert storage.set_job_exclusive(*job, True).exclusive is True
    storage.save_job("demo", definition(steps=("A", "B")))
    assert storage.get_job(*job).exclusive is True
    assert [j.exclusive for j in storage.list_jobs("demo")[0]] == [True]
    assert storage.set_job_exclusive(*job, False).exclusive is False
    with pytest.raises(JobNotFound):
        storage.set_job_exclusive("demo", "NOPE", True)
    with pytest.raises(ApplicationNotFound):
        storage.set_job_exclusive("nope", "JOB-1", True)


def test_executions_keep_not_before_and_slot(storage, job):
    slot = T0 + timedelta(minutes=5, microseconds=123456)
    plain = storage.create_execution(*job, {}, T0)
    scheduled = storage.create_execution(*job, {"p": "1"}, T0, not_before=slot, slot=slot)
    assert (plain.not_before, plain.slot) == (None, None)
    assert (scheduled.not_before, scheduled.slot) == (slot, slot)
    assert scheduled.slot.utcoffset() == timedelta(0)
    assert storage.get_execution(scheduled.id).not_before == slot
    assert [e.slot for e in storage.list_executions(*job)[0]] == [slot, None]
    claimed = storage.claim_execution("agent-a", T0)
    assert claimed.id == plain.id
    claimed = storage.claim_execution("agent-a", T0)
    assert (claimed.id, claimed.not_before, claimed.slot) == (scheduled.id, slot, slot)
    moved = storage.transition_execution(scheduled.id, S.STARTING)
    assert (moved.not_before, moved.slot) == (slot, slot)
    storage.transition_execution(scheduled.id, S.FAILED)
    restart = storage.create_execution(*job, {}, T0, restart_of=scheduled.id)
    assert (restart.not_before, restart.slot) == (None, None)


def test_active_executions_are_the_waiting_and_running_ones_oldest_first(storage, job):
    other = add_job(storage, "JOB-2")
    ids = [storage.create_execution(*job, {}, T0).id for _ in range(5)]
    storage.create_execution(*other, {}, T0)
    storage.transition_execution(ids[0], S.STOPPED)  # final
    storage.transition_execution(ids[1], S.QUEUED)
    storage.transition_execution(ids[1], S.STARTED)  # running
    storage.transition_execution(ids[2], S.QUEUED)
    storage.transition_execution(ids[2], S.STARTED)
    storage.transition_execution(ids[2], S.COMPLETED)  # final
    storage.transition_execution(ids[3], S.QUEUED)
    storage.transition_execution(ids[3], S.STARTING)
    storage.transition_execution(ids[3], S.UNKNOWN)  # not final: still counts
    active = storage.active_executions(*job)
    assert [(e.id, e.batch_status) for e in active] == [
        (ids[1], S.STARTED), (ids[3], S.UNKNOWN), (ids[4], S.UNDISPATCHED)]
    assert all(e.steps == () for e in active)
    add_job(storage, "IDLE")
    assert storage.active_executions("demo", "IDLE") == []
    with pytest.raises(JobNotFound):
        storage.active_executions("demo", "NOPE")


# -- calendars ------------------------------------------------------------------------------------

def test_calendars_round_trip_replace_and_list(storage):
    created_at = T0 - timedelta(days=1)
    storage.clock = lambda: T0
    saved, created = storage.save_calendar(Calendar(
        "work", holidays=("2024-12-25", "2025-01-01"), weekly_holidays=WEEKEND,
        day_start="06:30", created_at=created_at))
    assert created is True
    assert saved == Calendar("work", ("2024-12-25", "2025-01-01"), WEEKEND, "06:30",
                             created_at=created_at, updated_at=T0)
    storage.clock = lambda: T0 + SEC
    again, created = storage.save_calendar(Calendar("work", holidays=("2024-12-26",)))
    assert created is False
    assert again == Calendar("work", ("2024-12-26",), (False,) * 7, "00:00",
                             created_at=created_at, updated_at=T0 + SEC)
    assert storage.get_calendar("work") == again
    storage.save_calendar(Calendar("alpha"))
    assert [c.name for c in storage.list_calendars()] == ["alpha", "work"]
    with pytest.raises(CalendarNotFound):
        storage.get_calendar("nope")


def test_concurrent_saves_of_a_new_calendar_create_it_once(storage):
    def save(n):
        return storage.save_calendar(Calendar("shared", holidays=(f"2024-01-{n + 1:02d}",)))[1]

    with ThreadPoolExecutor(8) as pool:
        created = list(pool.map(save, range(16)))
    assert created.count(True) == 1
    assert len(storage.list_calendars()) == 1


def test_delete_calendar_is_refused_while_a_schedule_uses_it(storage, job):
    add_job(storage, "JOB-2")
    storage.save_calendar(Calendar("cal"))
    storage.save_calendar(Calendar("other"))
    storage.save_schedule(schedule(job="JOB-2", calendar="cal"))
    storage.save_schedule(schedule(calendar="cal"))
    with pytest.raises(Conflict) as refused:
        storage.delete_calendar("cal")
    assert str(refused.value) == "calendar 'cal' is used by the schedules of demo/JOB-1, demo/JOB-2"
    assert storage.get_calendar("cal").name == "cal"  # nothing deleted
    storage.save_schedule(schedule(calendar="other"))
    storage.delete_schedule("demo", "JOB-2")
    storage.delete_calendar("cal")
    assert [c.name for c in storage.list_calendars()] == ["other"]
    with pytest.raises(CalendarNotFound):
        storage.delete_calendar("cal")
    storage.delete_job("demo", "JOB-1")  # its schedule goes with it: the calendar is free
    storage.delete_calendar("other")
    assert storage.list_calendars() == []


# -- schedules ------------------------------------------------------------------------------------

def test_schedules_round_trip_and_list(storage, job):
    add_job(storage, "JOB-2")
    storage.save_calendar(Calendar("cal"))
    storage.clock = lambda: T0
    full = schedule(cron="0 30 9 ? * MON-FRI", time_zone="Asia/Tokyo", calendar="cal",
                    substitution=True, misfire_policy=MisfirePolicy.FIRE_ALL,
                    overlap_policy=OverlapPolicy.QUEUE_ONE, paused=True,
                    last_slot=T0 - timedelta(microseconds=1))
    saved = storage.save_schedule(full)
    assert saved == replace(full, created_at=T0, updated_at=T0)
    assert isinstance(saved.misfire_policy, MisfirePolicy) and saved.substitution is True
    assert storage.get_schedule(*job) == saved
    plain = storage.save_schedule(schedule(job="JOB-2"))
    assert (plain.time_zone, plain.calendar, plain.misfire_policy, plain.overlap_policy,
            plain.paused, plain.last_slot) == ("UTC", None, MisfirePolicy.FIRE_ONCE_NOW,
                                               OverlapPolicy.ALLOW, False, None)
    assert [s.job for s in storage.list_schedules()] == ["JOB-1", "JOB-2"]
    assert [s.job for s in storage.list_schedules(calendar="cal")] == ["JOB-1"]
    assert storage.list_schedules(calendar="none") == []


def test_save_schedule_needs_its_job_and_calendar(storage, job):
    with pytest.raises(JobNotFound):
        storage.save_schedule(schedule(job="NOPE"))
    with pytest.raises(ApplicationNotFound):
        storage.save_schedule(schedule(app="nope"))
    with pytest.raises(CalendarNotFound):
        storage.save_schedule(schedule(calendar="nope"))
    assert storage.list_schedules() == []
    with pytest.raises(ScheduleNotFound):
        storage.get_schedule(*job)
    with pytest.raises(JobNotFound):
        storage.get_schedule("demo", "NOPE")
    for call in (storage.delete_schedule, storage.set_schedule_paused):
        args = (True,) if call == storage.set_schedule_paused else ()
        with pytest.raises(ScheduleNotFound):
            call(*job, *args)


def test_save_schedule_replaces_but_keeps_last_slot_and_created_at(storage, job):
    storage.clock = lambda: T0
    storage.save_schedule(schedule())
    storage.advance_schedule(*job, T0 + 60 * SEC)
    storage.clock = lambda: T0 + SEC
    replaced = storage.save_schedule(schedule(cron="0 15 * * * ?", paused=True,
                                              created_at=T0 + 99 * SEC))
    assert (replaced.cron, replaced.paused, replaced.last_slot) == (
        "0 15 * * * ?", True, T0 + 60 * SEC)
    assert (replaced.created_at, replaced.updated_at) == (T0, T0 + SEC)
    given = storage.save_schedule(schedule(last_slot=T0 + 5 * SEC))  # given: it wins
    assert (given.last_slot, given.paused) == (T0 + 5 * SEC, False)
    assert len(storage.list_schedules()) == 1


def test_pause_and_resume(storage, job):
    storage.clock = lambda: T0
    storage.save_schedule(schedule(last_slot=T0))
    storage.clock = lambda: T0 + SEC
    paused = storage.set_schedule_paused(*job, True)
    assert (paused.paused, paused.updated_at, paused.created_at, paused.last_slot) == (
        True, T0 + SEC, T0, T0)
    assert storage.get_schedule(*job) == paused
    assert storage.set_schedule_paused(*job, False).paused is False


def test_the_fingerprint_moves_with_every_change_but_not_with_bookkeeping(storage, job):
    empty = storage.schedules_fingerprint()
    storage.clock = lambda: T0
    storage.save_schedule(schedule())
    saved = storage.schedules_fingerprint()
    storage.advance_schedule(*job, T0 + 10 * SEC)  # bookkeeping: the same schedule
    assert storage.schedules_fingerprint() == saved != empty
    storage.clock = lambda: T0 + SEC
    storage.set_schedule_paused(*job, True)
    paused = storage.schedules_fingerprint()
    assert paused != saved
    storage.delete_schedule(*job)
    assert storage.schedules_fingerprint() not in (paused, saved)


def test_advance_schedule_never_moves_back(storage, job):
    storage.clock = lambda: T0
    storage.save_schedule(schedule())
    storage.advance_schedule(*job, T0 + 10 * SEC)
    storage.advance_schedule(*job, T0 + 5 * SEC)
    assert storage.get_schedule(*job).last_slot == T0 + 10 * SEC
    storage.advance_schedule(*job, T0 + 10 * SEC + timedelta(microseconds=1))
    assert storage.get_schedule(*job).last_slot == T0 + 10 * SEC + timedelta(microseconds=1)
    assert storage.get_schedule(*job).updated_at == T0  # bookkeeping, not a change
    storage.advance_schedule("demo", "NOPE", T0)  # no schedule: nothing moves, no error

    moves = [T0 + random.randrange(1000) * SEC for _ in range(200)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda slot: storage.advance_schedule(*job, slot), moves))
    assert storage.get_schedule(*job).last_slot == max(moves + [T0 + 11 * SEC])


def test_delete_schedule_keeps_the_ledger(storage, job):
    storage.save_schedule(schedule())
    assert storage.claim_slot(*job, T0, T0)
    storage.delete_schedule(*job)
    with pytest.raises(ScheduleNotFound):
        storage.get_schedule(*job)
    with pytest.raises(ScheduleNotFound):
        storage.delete_schedule(*job)
    assert [s.slot for s in storage.list_slots(*job)[0]] == [T0]
    storage.save_schedule(schedule())
    assert not storage.claim_slot(*job, T0, T0)  # the history still guards the slot


# -- the fire-slot ledger -------------------------------------------------------------------------

def test_a_slot_is_claimed_once(storage, job):
    slot = T0 + timedelta(microseconds=250)
    assert storage.claim_slot(*job, slot, T0 + SEC) is True
    assert storage.claim_slot(*job, slot, T0 + 2 * SEC) is False
    assert storage.claim_slot(*job, slot + timedelta(microseconds=1), T0) is True
    other = add_job(storage, "JOB-2")
    assert storage.claim_slot(*other, slot, T0) is True  # slots are per job
    [row] = [s for s in storage.list_slots(*job)[0] if s.slot == slot]
    assert row == FireSlot("demo", "JOB-1", slot, SlotStatus.FIRED, recorded_at=T0 + SEC)
    assert storage.claim_slot("demo", "NOPE", slot, T0) is False  # no job: nothing written
    assert storage.claim_slot("nope", "JOB-1", slot, T0) is False
    assert storage.db.execute_sql("SELECT COUNT(*) FROM fire_slot").fetchone()[0] == 3


def test_record_slot_never_overwrites_a_row(storage, job):
    assert storage.claim_slot(*job, T0, T0)
    assert storage.record_slot(FireSlot(*job, T0, SlotStatus.MISSED, "paused")) is False
    missed = FireSlot(*job, T0 + 60 * SEC, SlotStatus.MISSED, "misfire: no bus", recorded_at=T0)
    assert storage.record_slot(missed) is True
    assert storage.record_slot(replace(missed, reason="again")) is False
    assert storage.claim_slot(*job, missed.slot, T0) is False  # a missed slot never fires
    storage.clock = lambda: T0 + 7 * SEC
    assert storage.record_slot(FireSlot(*job, T0 + 120 * SEC, SlotStatus.MISSED, None,
                                        execution_id=4)) is True
    rows, total = storage.list_slots(*job)
    assert total == 3
    assert rows == [FireSlot(*job, T0 + 120 * SEC, SlotStatus.MISSED, None, 4, T0 + 7 * SEC),
                    missed, FireSlot(*job, T0, SlotStatus.FIRED, recorded_at=T0)]
    assert storage.record_slot(replace(missed, job="NOPE")) is False


def test_set_slot_outcome_fills_in_the_claimed_row(storage, job):
    assert storage.claim_slot(*job, T0, T0)
    execution = storage.create_execution(*job, {}, T0, not_before=T0, slot=T0)
    storage.set_slot_outcome(*job, T0, execution_id=execution.id, reason="late")
    [row] = storage.list_slots(*job)[0]
    assert (row.status, row.reason, row.execution_id) == (SlotStatus.FIRED, "late", execution.id)
    storage.set_slot_outcome(*job, T0, status=SlotStatus.MISSED, reason="overlap: 1 runs")
    [row] = storage.list_slots(*job)[0]
    assert (row.status, row.reason, row.execution_id) == (SlotStatus.MISSED, "overlap: 1 runs",
                                                          execution.id)
    storage.set_slot_outcome(*job, T0)  # nothing given: nothing changes
    assert storage.list_slots(*job)[0] == [row]
    storage.set_slot_outcome(*job, T0 + SEC, reason="no row")  # no error, nothing written
    assert storage.list_slots(*job)[1] == 1


def test_list_slots_newest_first_with_paging(storage, job):
    times = slots(25)
    for slot in random.sample(times, len(times)):
        assert storage.claim_slot(*job, slot, T0)
    first, total = storage.list_slots(*job)
    assert total == 25 and [s.slot for s in first] == times[::-1][:20]
    rest, total = storage.list_slots(*job, offset=20, limit=10)
    assert total == 25 and [s.slot for s in rest] == times[:5][::-1]
    add_job(storage, "EMPTY")
    assert storage.list_slots("demo", "EMPTY") == ([], 0)
    with pytest.raises(JobNotFound):
        storage.list_slots("demo", "NOPE")


def test_claims_of_slots_from_many_threads_are_exactly_once(storage, job):
    times = slots(100)

    def claim_all(_):
        return [slot for slot in times if storage.claim_slot(*job, slot, T0)]

    with ThreadPoolExecutor(8) as pool:
        won = [slot for got in pool.map(claim_all, range(8)) for slot in got]
    assert sorted(won) == times


def _claim_slots(url, worker, count, results):
    store = PeeweeStorage(url)
    store.open()
    won = [slot for slot in slots(count) if store.claim_slot("demo", "JOB-1", slot, T0)]
    results.put((worker, won))


@pytest.mark.timeout(120)
def test_claims_of_slots_from_several_processes_are_exactly_once(storage, job):
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [context.Process(target=_claim_slots, args=(storage.url, n, 200, results))
               for n in range(4)]
    for worker in workers:
        worker.start()
    by_worker = dict(results.get(timeout=100) for _ in workers)
    for worker in workers:
        worker.join(timeout=30)
    won = [slot for got in by_worker.values() for slot in got]
    assert len(won) == len(set(won)) == 200 and sorted(won) == slots(200)
    rows, total = storage.list_slots(*job, limit=500)
    assert total == 200 and {row.status for row in rows} == {SlotStatus.FIRED}


# -- deleting a job --------------------------------------------------------------------------------

def test_delete_job_removes_its_schedule_and_ledger(storage, job):
    other = add_job(storage, "JOB-2")
    for name in (job, other):
        storage.save_schedule(schedule(job=name[1]))
        assert storage.claim_slot(*name, T0, T0)
        assert storage.record_slot(FireSlot(*name, T0 + SEC, SlotStatus.MISSED, "paused"))
    storage.delete_job(*job)
    assert [s.job for s in storage.list_schedules()] == ["JOB-2"]
    F = storage.models.FireSlot
    assert {row.job for row in F.select()} == {"JOB-2"}
    storage.save_job("demo", definition())  # made again: no schedule, no history
    with pytest.raises(ScheduleNotFound):
        storage.get_schedule(*job)
    assert storage.list_slots(*job) == ([], 0)
    assert storage.claim_slot(*job, T0, T0)
    assert storage.list_slots(*other)[1] == 2


def test_delete_job_racing_claims_and_saves_leaves_nothing_behind(storage):
    storage.save_application(Application("demo"))
    for round_ in range(5):
        name = f"RACE-{round_}"
        add_job(storage, name)
        storage.save_schedule(schedule(job=name))
        stop = threading.Event()

        def claim(worker):
            n = 0
            while not stop.is_set():
                storage.claim_slot("demo", name, T0 + (worker * 10_000 + n) * SEC, T0)
                try:
                    storage.save_schedule(schedule(job=name))
                    storage.create_execution("demo", name, {}, T0)
                except JobNotFound:
                    pass
                n += 1

        with ThreadPoolExecutor(4) as pool:
            running = [pool.submit(claim, worker) for worker in range(4)]
            threading.Event().wait(0.05)
            storage.delete_job("demo", name)
            stop.set()
            for future in running:
                future.result()
        m = storage.models
        assert not m.Schedule.select().where(m.Schedule.job == name).exists()
        assert not m.FireSlot.select().where(m.FireSlot.job == name).exists()
        assert not m.JobExecution.select().where(m.JobExecution.job == name).exists()
