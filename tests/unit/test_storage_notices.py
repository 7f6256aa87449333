"""Status notifications, time monitors, deadlines and the delivery queue in storage: on SQLite,
and on PostgreSQL when configured."""
from __future__ import annotations

from datetime import timedelta

import pytest

from jsbus.errors import JobNotFound, NotificationNotFound
from jsbus.model import (Application, BatchStatus, DeadlineState, Delivery, DeliveryState,
                         MonitorAction, TimeMonitor)

from .conftest import T0, definition

S = BatchStatus
pytestmark = pytest.mark.timeout(60)


def started(storage, job="JOB-1", at=T0):
    execution = storage.create_execution("demo", job, {}, at)
    storage.claim_executions("agent-a", at, 1)
    storage.transition_execution(execution.id, S.STARTING)
    storage.transition_execution(execution.id, S.STARTED, start_time=at)
    return execution.id


def delivery(key: str, execution_id=None, job="JOB-1") -> Delivery:
    return Delivery(id=None, key=key, type="mail", event="status", app="demo", job=job,
                    execution_id=execution_id, payload={"job-name": job, "n": key})


def test_status_notifications_are_added_listed_and_removed_by_id(storage, job):
    first = storage.add_status_notification(*job, "mail", S.FAILED, None)
    second = storage.add_status_notification(*job, "pager", None, "BAD")
    assert [n.id for n in storage.status_notifications(*job)] == [first.id, second.id]
    assert storage.status_notifications(*job)[1].exit_status == "BAD"
    assert storage.status_notifications()[0].batch_status is S.FAILED
    storage.remove_status_notification(*job, first.id)
    assert [n.type for n in storage.status_notifications(*job)] == ["pager"]
    with pytest.raises(NotificationNotFound):
        storage.remove_status_notification(*job, first.id)
    with pytest.raises(JobNotFound):
        storage.add_status_notification("demo", "NOPE", "mail", S.FAILED, None)


def test_the_time_monitor_is_kept_on_the_job_and_survives_a_put(storage, job):
    monitor = TimeMonitor(30, MonitorAction.STOP, "late")
    assert storage.set_time_monitor(*job, monitor).time_monitor == monitor
    storage.save_job("demo", definition())  # a PUT of the document keeps the settings
    assert storage.get_job(*job).time_monitor == monitor
    assert storage.set_time_monitor(*job, None).time_monitor is None


def test_deadlines_arm_once_for_started_executions_and_cancel_when_they_end(storage, job):
    storage.save_job("demo", definition("OTHER"))
    storage.set_time_monitor(*job, TimeMonitor(10, MonitorAction.ALERT, "late"))
    running = started(storage)
    unmonitored = started(storage, "OTHER")
    waiting = storage.create_execution("demo", "JOB-1", {}, T0)  # never started: not armed
    assert storage.arm_deadlines() == 1
    assert storage.arm_deadlines() == 0, "idempotent"
    deadline = storage.get_deadline(running)
    assert deadline.due_at == T0 + timedelta(minutes=10)
    assert deadline.monitor.notification_type == "late"
    assert storage.get_deadline(waiting.id) is None
    assert storage.get_deadline(unmonitored) is None
    assert storage.due_deadlines(T0 + timedelta(minutes=9)) == []
    assert [d.id for d in storage.due_deadlines(T0 + timedelta(minutes=10))] == [deadline.id]
    storage.transition_execution(running, S.COMPLETED, end_time=T0)
    storage.arm_deadlines()
    assert storage.get_deadline(running).state is DeadlineState.CANCELLED
    assert storage.due_deadlines(T0 + timedelta(hours=1)) == []


def test_a_deadline_moves_once(storage, job):
    storage.set_time_monitor(*job, TimeMonitor(1, MonitorAction.ABANDON))
    storage.arm_deadlines()
    storage.arm_deadlines()
    running = started(storage)
    storage.arm_deadlines()
    deadline = storage.get_deadline(running)
    P, A, F = DeadlineState.PENDING, DeadlineState.ABANDONING, DeadlineState.FIRED
    assert storage.move_deadline(deadline.id, P, A, T0)
    assert not storage.move_deadline(deadline.id, P, F, T0), "already moved"
    assert [d.id for d in storage.deadlines_in(A)] == [deadline.id]
    assert storage.get_deadline(running).fired_at == T0
    storage.transition_execution(running, S.STOPPING)
    storage.transition_execution(running, S.STOPPED, end_time=T0)
    storage.arm_deadlines()
    assert storage.get_deadline(running).state is A, "only pending deadlines are cancelled"


def test_deliveries_queue_once_lease_and_record_attempts(storage, job):
    now = T0
    assert storage.enqueue_deliveries([delivery("a"), delivery("b"), delivery("a")], now) == 2
    assert storage.enqueue_deliveries([delivery("b")], now) == 0
    leased = storage.lease_deliveries(now, timedelta(minutes=1))
    assert [d.key for d in leased] == ["a", "b"]
    assert storage.lease_deliveries(now, timedelta(minutes=1)) == [], "leased: not due"
    first, second = leased
    storage.record_attempt(first.id, state=DeliveryState.DELIVERED, attempts=1, now=now)
    storage.record_attempt(second.id, state=DeliveryState.PENDING, attempts=1, now=now,
                           next_attempt_at=now + timedelta(seconds=4), error="HTTP 503")
    assert storage.lease_deliveries(now + timedelta(seconds=3), timedelta(minutes=1)) == []
    again = storage.lease_deliveries(now + timedelta(seconds=4), timedelta(minutes=1))
    assert [(d.key, d.attempts, d.last_error) for d in again] == [("b", 1, "HTTP 503")]
    found, hits = storage.list_deliveries(*job)
    assert hits == 2 and [d.key for d in found] == ["b", "a"], "newest first"
    assert found[1].state is DeliveryState.DELIVERED and found[1].delivered_at == now
    assert found[1].payload == {"job-name": "JOB-1", "n": "a"}


def test_purge_and_delete_leave_no_settings_deadlines_or_deliveries_behind(storage, job):
    storage.set_time_monitor(*job, TimeMonitor(1, MonitorAction.ALERT, "late"))
    storage.add_status_notification(*job, "mail", S.COMPLETED, None)
    execution = started(storage)
    storage.arm_deadlines()
    storage.enqueue_deliveries([delivery("x", execution), delivery("y")], T0)
    storage.transition_execution(execution, S.COMPLETED, end_time=T0)
    assert storage.purge_executions(*job) == (1, 0)
    assert storage.get_deadline(execution) is None
    assert [d.key for d in storage.list_deliveries(*job)[0]] == ["y"]
    storage.delete_job(*job)
    storage.save_job("demo", definition())
    assert storage.status_notifications(*job) == []
    assert storage.list_deliveries(*job) == ([], 0)
    assert storage.get_job(*job).time_monitor is None


def test_an_application_cascade_delete_takes_the_notifications_too(storage, job):
    storage.add_status_notification(*job, "mail", S.FAILED, None)
    storage.enqueue_deliveries([delivery("z")], T0)
    storage.delete_application("demo", cascade=True)
    storage.save_application(Application("demo"))
    storage.save_job("demo", definition())
    assert storage.status_notifications(*job) == []
    assert storage.list_deliveries(*job) == ([], 0)
