"""The storage methods of the bus's hot path: batched claims and lookups, one-transaction
batches, and the statements written out as SQL text (``statements.py``), which must store and
read back exactly what peewee's own queries do. On SQLite, and on PostgreSQL when configured."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from jsbus.errors import ExecutionNotFound, JobNotFound
from jsbus.model import AgentInfo, BatchStatus, Checkpoint, FireSlot, Schedule, SlotStatus

from .conftest import T0

S = BatchStatus


def agent(instance_id="agent-a", name="alpha"):
    return AgentInfo(instance_id=instance_id, name=name, host="127.0.0.1", port=4510,
                     capacity=10, last_seen=T0)


def new_executions(storage, job, count):
    return [storage.create_execution(*job, {"n": str(i)}, T0).id for i in range(count)]


def test_claim_executions_takes_the_oldest_up_to_the_limit(storage, job):
    storage.save_agent(agent())
    ids = new_executions(storage, job, 5)
    storage.transition_execution(ids[1], S.ABANDONED)
    claimed = storage.claim_executions("agent-a", T0, 3)
    assert [e.id for e in claimed] == [ids[0], ids[2], ids[3]]
    assert {(e.batch_status, e.agent_id, e.agent_name) for e in claimed} == {
        (S.QUEUED, "agent-a", "alpha")}
    assert [e.id for e in storage.claim_executions("agent-b", T0, 10)] == [ids[4]]
    assert storage.claim_executions("agent-b", T0, 10) == []
    assert storage.claim_execution("agent-b", T0) is None


def test_batched_claims_from_many_threads_are_exactly_once(storage, job):
    ids = new_executions(storage, job, 150)

    def drain(worker):
        got = []
        while claimed := storage.claim_executions(f"agent-{worker}", T0, 7):
            got.extend(execution.id for execution in claimed)
        return got

    with ThreadPoolExecutor(6) as pool:
        claimed = [i for got in pool.map(drain, range(6)) for i in got]
    assert sorted(claimed) == ids


def test_get_executions_returns_those_that_exist_and_active_counts_group_by_agent(storage, job):
    storage.save_agent(agent())
    ids = new_executions(storage, job, 4)
    storage.claim_executions("agent-a", T0, 2)
    storage.claim_executions("agent-b", T0, 1)
    found = storage.get_executions(ids + [10_000])
    assert sorted(found) == ids
    assert found[ids[0]] == storage.get_execution(ids[0], with_steps=False)
    assert found[ids[0]].agent_name == "alpha"
    assert storage.active_counts() == {"agent-a": 2, "agent-b": 1}
    storage.transition_execution(ids[0], S.STARTING)
    storage.transition_execution(ids[0], S.STARTED)
    storage.transition_execution(ids[0], S.COMPLETED)
    assert storage.active_counts() == {"agent-a": 1, "agent-b": 1}


def test_a_batch_is_all_or_nothing(storage, job):
    [first] = new_executions(storage, job, 1)
    with pytest.raises(RuntimeError):
        with storage.batch():
            storage.claim_executions("agent-a", T0, 1)
            storage.transition_execution(first, S.STARTING)
            storage.start_step(first, "STEP-1", T0)
            raise RuntimeError("the agent's batch had a bad event")
    assert storage.get_execution(first).batch_status is S.UNDISPATCHED
    assert storage.get_execution(first).steps == ()
    with storage.batch(synced=True):  # a checkpoint's batch: commits synced, on SQLite too
        storage.claim_executions("agent-a", T0, 1)
        storage.transition_execution(first, S.STARTING)
        storage.start_step(first, "STEP-1", T0)
        storage.save_checkpoint(Checkpoint(instance_id=first, step_name="STEP-1",
                                           reader=1, execution_id=first, time=T0))
        with storage.batch():  # nested: part of the same transaction
            storage.transition_execution(first, S.STARTED, start_time=T0)
    assert storage.get_execution(first).batch_status is S.STARTED
    assert [c.reader for c in storage.list_checkpoints(first)] == [1]


def test_the_statements_store_what_peewee_would(storage, job):
    storage.save_agent(agent())
    [first] = new_executions(storage, job, 1)
    created = storage.get_execution(first)
    assert (created.instance_id, created.job_parameters, created.create_time) == (
        first, {"n": "0"}, T0)
    storage.claim_executions("agent-a", T0, 1)
    started = storage.transition_execution(first, S.STARTING)
    started = storage.transition_execution(first, S.STARTED, start_time=T0 + timedelta(1))
    assert started == storage.get_execution(first, with_steps=False)
    assert (started.agent_name, started.start_time) == ("alpha", T0 + timedelta(1))
    step = storage.start_step(first, "STEP-1", T0)
    assert storage.start_step(first, "STEP-1", T0 + timedelta(seconds=5)) == step  # a repeat
    ended = storage.end_step(first, "STEP-1", S.COMPLETED, T0 + timedelta(2), "DONE",
                             {"read-count": 3}, {"k": [1, 2]})
    assert ended == storage.get_execution(first).steps[0]
    assert (ended.exit_status, ended.metrics, ended.persistent_user_data) == (
        "DONE", {"read-count": 3}, {"k": [1, 2]})
    assert storage.end_step(first, "STEP-1", S.COMPLETED, T0, None) is None  # final already
    done = storage.transition_execution(first, S.COMPLETED, end_time=T0 + timedelta(3),
                                        exit_status="COMPLETED")
    assert done == storage.get_execution(first, with_steps=False)
    assert storage.transition_execution(first, S.FAILED) is None
    with pytest.raises(ExecutionNotFound):
        storage.transition_execution(10_000, S.STARTED)
    with pytest.raises(ExecutionNotFound):
        storage.start_step(10_000, "STEP-1", T0)
    back = storage.transition_execution(new_executions(storage, job, 1)[0], S.UNDISPATCHED)
    assert back is None  # undispatched already: no move


def test_slot_statements_claim_once_and_advance_forward_only(storage, job):
    storage.save_schedule(Schedule(app=job[0], job=job[1], cron="0 * * * * ?"))
    slot = T0 + timedelta(minutes=1)
    assert storage.claim_slot(*job, slot, T0) is True
    assert storage.claim_slot(*job, slot, T0) is False
    assert storage.claim_slot(job[0], "missing", slot, T0) is False
    assert storage.record_slot(FireSlot(*job, slot + timedelta(minutes=1), SlotStatus.MISSED,
                                        reason="paused", recorded_at=T0)) is True
    execution = storage.create_execution(*job, {}, T0, not_before=slot, slot=slot)
    assert (execution.not_before, execution.slot) == (slot, slot)
    storage.set_slot_outcome(*job, slot, execution_id=execution.id, reason="late")
    rows, total = storage.list_slots(*job)
    assert total == 2
    assert [(r.status, r.reason, r.execution_id) for r in rows] == [
        (SlotStatus.MISSED, "paused", None), (SlotStatus.FIRED, "late", execution.id)]
    storage.advance_schedule(*job, slot + timedelta(minutes=1))
    storage.advance_schedule(*job, slot)  # never back
    assert storage.get_schedule(*job).last_slot == slot + timedelta(minutes=1)
    with pytest.raises(JobNotFound):
        storage.create_execution(job[0], "missing", {}, T0)
