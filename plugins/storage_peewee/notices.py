"""Job settings that watch executions (status notifications, the time monitor), the deadlines
the time monitor arms, and the queue of notification deliveries."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterable

from peewee import JOIN, IntegrityError

from jsbus.errors import NotificationNotFound
from jsbus.model import (FINAL_STATUSES, BatchStatus, Deadline, DeadlineState, Delivery,
                         DeliveryState, Job, StatusNotification, TimeMonitor)

from .base import storage_errors
from .prepared import slot
from .convert import monitor_to_json, to_monitor

# An execution the time monitor watches: it has started and not ended.
WATCHED = (BatchStatus.STARTED, BatchStatus.STOPPING)


def to_notification(row) -> StatusNotification:
    return StatusNotification(id=row.id, app=row.app, job=row.job, type=row.type,
                              batch_status=row.batch_status, exit_status=row.exit_status)


def to_deadline(row) -> Deadline:
    return Deadline(id=row.id, execution_id=row.execution_id, app=row.app, job=row.job,
                    due_at=row.due_at, monitor=to_monitor(row.monitor), state=row.state,
                    fired_at=row.fired_at)


def to_delivery(row) -> Delivery:
    return Delivery(id=row.id, key=row.key, type=row.type, event=row.event, app=row.app,
                    job=row.job, execution_id=row.execution_id, payload=row.payload,
                    state=row.state, attempts=row.attempts,
                    next_attempt_at=row.next_attempt_at, last_error=row.last_error,
                    created_at=row.created_at, delivered_at=row.delivered_at)


class NoticeRecords:
    """Mixed into ``PeeweeStorage``."""

    # -- settings ------------------------------------------------------------------------------
    @storage_errors
    def set_time_monitor(self, app: str, name: str, monitor: TimeMonitor | None) -> Job:
        J = self.models.Job
        (J.update(time_monitor=monitor_to_json(monitor), updated_at=self.clock())
         .where((J.app == app) & (J.name == name)).execute())
        return self.get_job(app, name)  # JobNotFound when nothing was updated

    @storage_errors
    def add_status_notification(self, app: str, name: str, type: str,
                                batch_status: BatchStatus | None,
                                exit_status: str | None) -> StatusNotification:
        N = self.models.StatusNotification
        with self.write_transaction():
            self.lock_job(app, name)
            row = N.create(app=app, job=name, type=type, batch_status=batch_status,
                           exit_status=exit_status, created_at=self.clock())
        return to_notification(row)

    @storage_errors
    def remove_status_notification(self, app: str, name: str, notification_id: int) -> None:
        N = self.models.StatusNotification
        self.require_job(app, name)
        if not (N.delete().where((N.id == notification_id) & (N.app == app) & (N.job == name))
                .execute()):
            raise NotificationNotFound(notification_id)

    @storage_errors
    def status_notifications(self, app: str | None = None, name: str | None = None,
                             known: bool = False) -> list[StatusNotification]:
        """The status notifications of one job, or (no arguments) of every job."""
        N = self.models.StatusNotification
        if app is None:
            return [to_notification(row) for row in N.select().order_by(N.id)]
        if not known:
            self.require_job(app, name)
        rows = self.prepared.rows("job-notifications", lambda: N.select().where(
            (N.app == slot("app")) & (N.job == slot("job"))).order_by(N.id), app=app, job=name)
        return [to_notification(row) for row in rows]

    # -- deadlines ------------------------------------------------------------------------------
    @storage_errors
    def arm_deadlines(self) -> int:
        """Arm the time monitor of every started execution of a monitored job that has none
        yet (due ``duration`` minutes after its start), and cancel the pending deadlines of
        executions that have ended. Idempotent; returns how many were armed."""
        m = self.models
        E, J, D = m.JobExecution, m.Job, m.ExecutionDeadline
        rows = (E.select(E.id, E.app, E.job, E.start_time, J.time_monitor)
                .join(J, on=((J.app == E.app) & (J.name == E.job)))
                .join(D, JOIN.LEFT_OUTER, on=(D.execution_id == E.id))
                .where(E.batch_status.in_(list(WATCHED)) & J.time_monitor.is_null(False)
                       & E.start_time.is_null(False) & D.id.is_null())
                .objects())
        armed = 0
        for row in rows:
            monitor = to_monitor(row.time_monitor)
            try:
                D.insert(execution_id=row.id, app=row.app, job=row.job,
                         due_at=row.start_time + timedelta(minutes=monitor.duration),
                         monitor=monitor_to_json(monitor),
                         state=DeadlineState.PENDING).execute()
                armed += 1
            except IntegrityError:  # armed meanwhile by another process
                pass
        ended = E.select(E.id).where(E.batch_status.in_(list(FINAL_STATUSES)))
        (D.update(state=DeadlineState.CANCELLED)
         .where((D.state == DeadlineState.PENDING) & D.execution_id.in_(ended)).execute())
        return armed

    @storage_errors
    def due_deadlines(self, now: datetime, limit: int = 100) -> list[Deadline]:
        D = self.models.ExecutionDeadline
        rows = (D.select().where((D.state == DeadlineState.PENDING) & (D.due_at <= now))
                .order_by(D.due_at).limit(limit))
        return [to_deadline(row) for row in rows]

    @storage_errors
    def deadlines_in(self, state: DeadlineState, limit: int = 100) -> list[Deadline]:
        D = self.models.ExecutionDeadline
        rows = D.select().where(D.state == state).order_by(D.due_at).limit(limit)
        return [to_deadline(row) for row in rows]

    @storage_errors
    def move_deadline(self, deadline_id: int, source: DeadlineState, target: DeadlineState,
                      now: datetime) -> bool:
        """``source`` -> ``target`` (stamping ``fired_at`` when leaving pending); False when the
        deadline was not in ``source`` (moved by another process, or cancelled)."""
        D = self.models.ExecutionDeadline
        changes = {D.state: target}
        if source is DeadlineState.PENDING:
            changes[D.fired_at] = now
        return bool(D.update(changes)
                    .where((D.id == deadline_id) & (D.state == source)).execute())

    @storage_errors
    def get_deadline(self, execution_id: int) -> Deadline | None:
        D = self.models.ExecutionDeadline
        row = D.get_or_none(D.execution_id == execution_id)
        return to_deadline(row) if row else None

    # -- deliveries -----------------------------------------------------------------------------
    @storage_errors
    def enqueue_deliveries(self, deliveries: Iterable[Delivery], now: datetime) -> int:
        """Queue deliveries; one whose ``key`` is already queued is skipped. Returns how many
        were queued."""
        N = self.models.NotificationDelivery
        queued = 0
        for delivery in deliveries:
            try:
                with self.db.atomic():
                    N.insert(key=delivery.key, type=delivery.type, event=delivery.event,
                             app=delivery.app, job=delivery.job,
                             execution_id=delivery.execution_id, payload=delivery.payload,
                             state=DeliveryState.PENDING, attempts=0, next_attempt_at=now,
                             created_at=now).execute()
                queued += 1
            except IntegrityError:
                pass
        return queued

    @storage_errors
    def lease_deliveries(self, now: datetime, lease: timedelta,
                         limit: int = 50) -> list[Delivery]:
        """Pending deliveries due by ``now``, each leased until ``now + lease`` (so that a
        process that dies while sending leaves them to be sent again, not lost)."""
        N = self.models.NotificationDelivery
        due = ((N.state == DeliveryState.PENDING) & (N.next_attempt_at <= now))
        leased = []
        for row in N.select().where(due).order_by(N.next_attempt_at, N.id).limit(limit):
            if N.update(next_attempt_at=now + lease).where((N.id == row.id) & due).execute():
                leased.append(to_delivery(row))
        return leased

    @storage_errors
    def record_attempt(self, delivery_id: int, *, state: DeliveryState, attempts: int,
                       now: datetime, next_attempt_at: datetime | None = None,
                       error: str | None = None) -> None:
        N = self.models.NotificationDelivery
        (N.update(state=state, attempts=attempts, last_error=error,
                  next_attempt_at=next_attempt_at,
                  delivered_at=now if state is DeliveryState.DELIVERED else None)
         .where(N.id == delivery_id).execute())

    @storage_errors
    def list_deliveries(self, app: str, name: str, execution_id: int | None = None,
                        offset: int = 0, limit: int = 20) -> tuple[list[Delivery], int]:
        N = self.models.NotificationDelivery
        self.require_job(app, name)
        where = (N.app == app) & (N.job == name)
        if execution_id is not None:
            where &= N.execution_id == execution_id
        rows = N.select().where(where).order_by(N.id.desc()).offset(offset).limit(limit)
        return [to_delivery(row) for row in rows], N.select().where(where).count()
