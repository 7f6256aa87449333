"""Plain data of what watches executions for their jobs: time monitors and the deadlines they
arm, status notifications and the deliveries they queue. Re-exported by ``jsbus.model``."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsbus.model import BatchStatus, JobExecution


class MonitorAction(str, enum.Enum):
    """What a job's time monitor does to an execution still running after its duration."""

    ALERT = "alert"  # send the monitor's notification
    STOP = "stop"
    ABANDON = "abandon"


@dataclass(frozen=True)
class TimeMonitor:
    """The original's ``job/time-monitor``: act ``duration`` minutes after an execution started."""

    duration: int  # minutes
    action: MonitorAction
    notification_type: str | None = None  # the notifier's routing key (the original's "type")


@dataclass(frozen=True)
class StatusNotification:
    """Notify ``type`` when an execution of the job moves to ``batch_status`` and/or ends with
    ``exit_status``: when both are given, both must hold."""

    id: int
    app: str
    job: str
    type: str
    batch_status: BatchStatus | None = None
    exit_status: str | None = None

    def matches(self, execution: JobExecution) -> bool:
        if self.batch_status is not None and execution.batch_status is not self.batch_status:
            return False
        if self.exit_status is not None and (not execution.batch_status.is_final
                                             or execution.exit_status != self.exit_status):
            return False
        return True


class DeadlineState(str, enum.Enum):
    PENDING = "pending"
    ABANDONING = "abandoning"  # action "abandon": stopped; abandoned once it has stopped
    FIRED = "fired"
    CANCELLED = "cancelled"  # the execution ended in time


@dataclass(frozen=True)
class Deadline:
    """A time monitor armed for one execution: stored, so it outlives a bus restart."""

    id: int
    execution_id: int
    app: str
    job: str
    due_at: datetime
    monitor: TimeMonitor
    state: DeadlineState = DeadlineState.PENDING
    fired_at: datetime | None = None


class DeliveryState(str, enum.Enum):
    PENDING = "pending"  # waiting for its first or next attempt
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after the last attempt


@dataclass(frozen=True)
class Delivery:
    """One notification to send, and the record of sending it."""

    id: int | None
    key: str  # unique: the same notification is never queued twice
    type: str
    event: str  # "status", "time-monitor" or "alert"
    app: str
    job: str
    execution_id: int | None
    payload: dict[str, Any]
    state: DeliveryState = DeliveryState.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    created_at: datetime | None = None
    delivered_at: datetime | None = None
