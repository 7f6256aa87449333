"""A job's history: the newest execution of every job in one query, and the purge that keeps
running instances whole. On SQLite, and on PostgreSQL when configured."""
from __future__ import annotations

from jsbus.model import Application, BatchStatus, Checkpoint, LogRecord

from .conftest import T0, definition

S = BatchStatus


def ended(storage, job, status=S.COMPLETED, restart_of=None):
    execution = storage.create_execution("shop", job, {}, T0, restart_of=restart_of)
    storage.claim_executions("agent-a", T0, 1)
    storage.transition_execution(execution.id, S.STARTING)
    storage.transition_execution(execution.id, S.STARTED, start_time=T0)
    storage.transition_execution(execution.id, status, end_time=T0)
    return execution.id


def test_latest_executions_and_purge(storage):
    storage.save_application(Application("shop"))
    for name in ("A", "B", "C"):
        storage.save_job("shop", definition(name))
    first = ended(storage, "A", S.FAILED)
    storage.start_step(first, "STEP-1", T0)
    storage.append_logs([LogRecord(execution_id=first, time=T0, level="INFO", message="m")])
    storage.save_checkpoint(Checkpoint(instance_id=first, step_name="STEP-1", reader=1,
                                       execution_id=first, time=T0))
    second = ended(storage, "A", S.COMPLETED)
    failed = ended(storage, "B", S.FAILED)
    restart = storage.create_execution("shop", "B", {}, T0, restart_of=failed)  # waits
    latest = storage.latest_executions("shop")
    assert {name: e.id for name, e in latest.items()} == {"A": second, "B": restart.id}
    assert storage.purge_executions("shop", "A") == (2, 0)
    assert storage.list_executions("shop", "A") == ([], 0)
    assert storage.purge_executions("shop", "B") == (0, 2), "its instance still waits"
    assert storage.purge_executions("shop", "C") == (0, 0)
    assert set(storage.latest_executions("shop")) == {"B"}
