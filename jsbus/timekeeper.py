"""Time monitors: act on an execution still running ``duration`` minutes after it started.

The leader sweeps every ``time_monitor.interval`` seconds. A sweep arms a stored deadline for
each started execution of a monitored job (so a deadline outlives a bus restart, and one armed
while the bus was down is armed at the next sweep), cancels the deadlines of executions that
ended in time, and fires the due ones, each once (a guarded state change):

- ``alert``: queue the monitor's notification (``notification-type`` is its routing key);
- ``stop``: stop the execution (and notify, when a notification type is set);
- ``abandon``: JSR-352 abandons only what does not run, so stop it first, then abandon it as
  soon as it has stopped (and notify, when a notification type is set).
"""
from __future__ import annotations

import logging
from typing import Callable

from jsbus.errors import Conflict, ExecutionNotFound
from jsbus.model import (FINAL_STATUSES, BatchStatus, Deadline, DeadlineState, MonitorAction,
                         utcnow)
from jsbus.notifications import monitor_delivery

log = logging.getLogger(__name__)
RUNNING = (BatchStatus.STARTED, BatchStatus.STOPPING)


class TimeKeeper:
    def __init__(self, bus, wake: Callable[[], None] = lambda: None, clock=utcnow):
        self.bus, self.storage, self.wake, self.clock = bus, bus.storage, wake, clock

    def sweep(self) -> int:
        """One pass; returns how many deadlines fired."""
        self.storage.arm_deadlines()
        now, fired = self.clock(), 0
        for deadline in self.storage.due_deadlines(now):
            if self._fire(deadline, now):
                fired += 1
        for deadline in self.storage.deadlines_in(DeadlineState.ABANDONING):
            self._finish_abandon(deadline, now)
        return fired

    def _fire(self, deadline: Deadline, now) -> bool:
        try:
            execution = self.storage.get_execution(deadline.execution_id, with_steps=False)
        except ExecutionNotFound:  # purged meanwhile
            self.storage.move_deadline(deadline.id, DeadlineState.PENDING,
                                       DeadlineState.CANCELLED, now)
            return False
        action = deadline.monitor.action
        target = (DeadlineState.ABANDONING if action is MonitorAction.ABANDON
                  else DeadlineState.FIRED)
        if execution.batch_status not in RUNNING:  # ended since the sweep armed it
            return False  # arm_deadlines cancels it at the next sweep
        if not self.storage.move_deadline(deadline.id, DeadlineState.PENDING, target, now):
            return False
        log.warning("time monitor: execution %s of %s/%s still %s after %d min: %s",
                    execution.id, execution.app, execution.job, execution.batch_status.value,
                    deadline.monitor.duration, action.value)
        if action is not MonitorAction.ALERT and execution.batch_status is BatchStatus.STARTED:
            try:
                execution = self.bus.stop_execution(execution)
            except Conflict as exc:  # ended between the read and the stop
                log.info("time monitor: %s", exc)
        if deadline.monitor.notification_type:
            if self.storage.enqueue_deliveries([monitor_delivery(deadline.monitor, execution,
                                                                 deadline.due_at)], now):
                self.wake()
        return True

    def _finish_abandon(self, deadline: Deadline, now) -> None:
        try:
            execution = self.storage.get_execution(deadline.execution_id, with_steps=False)
        except ExecutionNotFound:
            execution = None
        if execution is not None and execution.batch_status not in FINAL_STATUSES:
            return  # still stopping
        if execution is not None:
            try:
                self.bus.abandon_execution(execution)
            except Conflict as exc:
                log.info("time monitor: %s", exc)
                return
        self.storage.move_deadline(deadline.id, DeadlineState.ABANDONING, DeadlineState.FIRED,
                                   now)
