"""The part of the storage interface that watches executions for their jobs' settings: status
notifications, time monitors and their deadlines, and the queue of notification deliveries.
``jsbus.storage.Storage`` includes it; the rules of that module hold here too."""
from __future__ import annotations

import abc
from datetime import datetime, timedelta
from typing import Iterable

from jsbus.model import (BatchStatus, Deadline, DeadlineState, Delivery, DeliveryState, Job,
                         StatusNotification, TimeMonitor)


class NoticeStorage(abc.ABC):
    # -- settings ------------------------------------------------------------------------------
    @abc.abstractmethod
    def set_time_monitor(self, app: str, name: str, monitor: TimeMonitor | None) -> Job:
        """Set (or with None remove) the job's time monitor. Executions already armed keep the
        monitor they were armed with."""

    @abc.abstractmethod
    def add_status_notification(self, app: str, name: str, type: str,
                                batch_status: BatchStatus | None,
                                exit_status: str | None) -> StatusNotification: ...

    @abc.abstractmethod
    def remove_status_notification(self, app: str, name: str, notification_id: int) -> None:
        """Raise ``NotificationNotFound`` when the job has no notification of that id."""

    @abc.abstractmethod
    def status_notifications(self, app: str | None = None, name: str | None = None,
                             known: bool = False) -> list[StatusNotification]:
        """One job's status notifications, or (no arguments) every job's (``known``: the
        caller has just read the job, so it is not looked up again)."""

    # -- deadlines ------------------------------------------------------------------------------
    @abc.abstractmethod
    def arm_deadlines(self) -> int:
        """Arm a deadline for every started execution of a job with a time monitor that has
        none, and cancel the pending deadlines of ended executions; idempotent."""

    @abc.abstractmethod
    def due_deadlines(self, now: datetime, limit: int = 100) -> list[Deadline]: ...

    @abc.abstractmethod
    def deadlines_in(self, state: DeadlineState, limit: int = 100) -> list[Deadline]: ...

    @abc.abstractmethod
    def move_deadline(self, deadline_id: int, source: DeadlineState, target: DeadlineState,
                      now: datetime) -> bool:
        """A guarded state change; False when the deadline was not in ``source``."""

    @abc.abstractmethod
    def get_deadline(self, execution_id: int) -> Deadline | None: ...

    # -- deliveries -----------------------------------------------------------------------------
    @abc.abstractmethod
    def enqueue_deliveries(self, deliveries: Iterable[Delivery], now: datetime) -> int:
        """Queue deliveries, skipping any whose key is queued already; returns how many."""

    @abc.abstractmethod
    def lease_deliveries(self, now: datetime, lease: timedelta,
                         limit: int = 50) -> list[Delivery]:
        """Pending deliveries due by ``now``, each leased (not due again) until ``now+lease``."""

    @abc.abstractmethod
    def record_attempt(self, delivery_id: int, *, state: DeliveryState, attempts: int,
                       now: datetime, next_attempt_at: datetime | None = None,
                       error: str | None = None) -> None: ...

    @abc.abstractmethod
    def list_deliveries(self, app: str, name: str, execution_id: int | None = None,
                        offset: int = 0, limit: int = 20) -> tuple[list[Delivery], int]:
        """A job's deliveries, newest first, and how many there are."""
