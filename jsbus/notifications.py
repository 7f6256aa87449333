"""Status notifications: match each execution transition against its job's notifications,
queue what matches in storage, and deliver the queue through the notifier plugin.

A transition is reported once, by the process that stored it (the
``jsbus_execution_status_changed`` hook); each match is queued under a unique key (execution,
status, notification), so it is queued once even if reported twice. The queue is durable: a
delivery survives a bus restart, and one being sent when a process dies is sent again once its
lease ends (at least once). Only the leader sends; it retries with exponential backoff up to
``notifications.max_attempts`` and records every attempt's outcome.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, Callable

from jsbus.errors import NotificationError
from jsbus.hookspecs import hookimpl
from jsbus.model import (BatchStatus, Delivery, DeliveryState, JobExecution, StatusNotification,
                         TimeMonitor, utcnow)
from jsbus.wire import rfc3339

log = logging.getLogger(__name__)
SETTINGS_TTL = 2.0  # seconds a process trusts its copy of every job's status notifications


def execution_payload(execution: JobExecution) -> dict[str, Any]:
    """What every notification says of its execution (the original's notificator variables
    ``job-name start-time end-time batch-status exit-status``, and more)."""
    return {"app-name": execution.app, "job-name": execution.job,
            "execution-id": execution.id, "batch-status": execution.batch_status.ident,
            "exit-status": execution.exit_status,
            "create-time": rfc3339(execution.create_time),
            "start-time": rfc3339(execution.start_time), "end-time": rfc3339(execution.end_time),
            "job-parameters": dict(execution.job_parameters), "agent-id": execution.agent_id}


def status_delivery(notification: StatusNotification, execution: JobExecution,
                    previous: BatchStatus) -> Delivery:
    return Delivery(
        id=None, key=f"status:{execution.id}:{execution.batch_status.value}:{notification.id}",
        type=notification.type, event="status", app=execution.app, job=execution.job,
        execution_id=execution.id,
        payload={"notification/type": notification.type, "notification/event": "status",
                 **execution_payload(execution), "previous-batch-status": previous.ident})


def monitor_delivery(monitor: TimeMonitor, execution: JobExecution, due_at: datetime | None,
                     event: str = "time-monitor", key: str | None = None) -> Delivery:
    """The time monitor's alert for ``execution`` (``event`` "alert" when asked by hand)."""
    return Delivery(
        id=None, key=key or f"time-monitor:{execution.id}", type=monitor.notification_type,
        event=event, app=execution.app, job=execution.job, execution_id=execution.id,
        payload={"notification/type": monitor.notification_type, "notification/event": event,
                 **execution_payload(execution), "duration": monitor.duration,
                 "action": monitor.action.value, "due-time": rfc3339(due_at)})


class NotificationMatcher:
    """The bus's own hook implementation: queues the deliveries a transition calls for."""

    def __init__(self, storage, wake: Callable[[], None], clock: Callable[[], datetime] = utcnow):
        self.storage, self.wake, self.clock = storage, wake, clock
        self._cache: dict[tuple[str, str], list[StatusNotification]] = {}
        self._loaded = float("-inf")
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Reload the settings at the next transition (this process changed them)."""
        with self._lock:
            self._loaded = float("-inf")

    def _notifications(self, app: str, job: str) -> list[StatusNotification]:
        with self._lock:
            if time.monotonic() - self._loaded > SETTINGS_TTL:
                cache: dict[tuple[str, str], list[StatusNotification]] = {}
                for notification in self.storage.status_notifications():
                    cache.setdefault((notification.app, notification.job),
                                     []).append(notification)
                self._cache, self._loaded = cache, time.monotonic()
            return self._cache.get((app, job), [])

    @hookimpl
    def jsbus_execution_status_changed(self, execution: JobExecution,
                                       previous: BatchStatus) -> None:
        matched = [status_delivery(n, execution, previous)
                   for n in self._notifications(execution.app, execution.job)
                   if n.matches(execution)]
        if matched and self.storage.enqueue_deliveries(matched, self.clock()):
            self.wake()


def backoff(config, attempts: int) -> timedelta:
    """The wait before attempt ``attempts + 1``: doubling from ``notifications.backoff``."""
    first, most = config.get("notifications.backoff"), config.get("notifications.max_backoff")
    return timedelta(seconds=min(most, first * 2 ** max(0, attempts - 1)))


class DeliveryPump:
    """The leader's sender: leases due deliveries, sends them a few at a time, records each
    attempt. ``wake()`` sends what was just queued without waiting for the interval."""

    def __init__(self, config, storage, notifier, clock: Callable[[], datetime] = utcnow):
        self.config, self.storage, self.notifier, self.clock = config, storage, notifier, clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._senders = ThreadPoolExecutor(max_workers=4, thread_name_prefix="notify")
        self._thread = threading.Thread(target=self._run, name="notifications", daemon=True)

    def start(self) -> "DeliveryPump":
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        self._senders.shutdown(wait=False, cancel_futures=True)
        self.notifier.close()

    def _run(self) -> None:
        interval = self.config.get("notifications.interval")
        while not self._stop.is_set():
            self._wake.clear()
            try:
                while self.pump() and not self._stop.is_set():
                    pass
            except Exception:  # noqa: BLE001 - storage down: try again at the next interval
                log.exception("sending notifications failed")
            self._wake.wait(interval)

    def pump(self) -> int:
        """Send one batch of due deliveries; returns how many were attempted."""
        timeout = self.config.get("notifications.timeout")
        lease = timedelta(seconds=4 * timeout + 30)
        due = self.storage.lease_deliveries(self.clock(), lease)
        for delivery, outcome in zip(due, self._senders.map(self._attempt, due)):
            self._record(delivery, outcome)
        return len(due)

    def _attempt(self, delivery: Delivery) -> NotificationError | None:
        try:
            self.notifier.send(delivery)
            return None
        except NotificationError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - a broken notifier must not stop the pump
            return NotificationError(f"notifier failed: {type(exc).__name__}: {exc}")

    def _record(self, delivery: Delivery, error: NotificationError | None) -> None:
        attempts, now = delivery.attempts + 1, self.clock()
        if error is None:
            self.storage.record_attempt(delivery.id, state=DeliveryState.DELIVERED,
                                        attempts=attempts, now=now)
            return
        last = error.permanent or attempts >= self.config.get("notifications.max_attempts")
        log.warning("notification %s (%s) attempt %d failed: %s", delivery.id, delivery.type,
                    attempts, error)
        self.storage.record_attempt(
            delivery.id, state=DeliveryState.FAILED if last else DeliveryState.PENDING,
            attempts=attempts, now=now, error=str(error),
            next_attempt_at=None if last else now + backoff(self.config, attempts))
