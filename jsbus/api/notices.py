"""``GET /{app}/job/{job}/notifications``: the record of every notification of a job (status
notifications and time-monitor alerts: queued, delivered or given up, with each attempt's
error), and ``PUT .../execution/{id}/alert``: send the job's time-monitor alert now."""
from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import falcon

from jsbus.api.jobs import page
from jsbus.errors import Conflict
from jsbus.model import Delivery, JobExecution, utcnow
from jsbus.notifications import monitor_delivery
from jsbus.wire import rfc3339


def delivery_view(delivery: Delivery) -> dict[str, Any]:
    return {"delivery/id": delivery.id, "delivery/type": delivery.type,
            "delivery/event": delivery.event, "delivery/execution-id": delivery.execution_id,
            "delivery/state": delivery.state.value, "delivery/attempts": delivery.attempts,
            "delivery/last-error": delivery.last_error,
            "delivery/created-at": rfc3339(delivery.created_at),
            "delivery/next-attempt-at": (rfc3339(delivery.next_attempt_at)
                                         if delivery.state.value == "pending" else None),
            "delivery/delivered-at": rfc3339(delivery.delivered_at),
            "delivery/payload": delivery.payload}


def send_alert(bus, execution: JobExecution) -> Delivery:
    """Queue the job's time-monitor alert for ``execution`` (the original's ``alert``
    command, which its time keeper used); 409 when the job has no monitor to alert with."""
    monitor = bus.storage.get_job(execution.app, execution.job).time_monitor
    if monitor is None or not monitor.notification_type:
        raise Conflict(f"job {execution.job} has no time monitor with a notification type: "
                       "PUT .../settings/time-monitor first")
    due = (execution.start_time + timedelta(minutes=monitor.duration)
           if execution.start_time else None)
    delivery = monitor_delivery(monitor, execution, due, event="alert",
                                key=f"alert:{execution.id}:{uuid.uuid4().hex}")
    bus.storage.enqueue_deliveries([delivery], utcnow())
    bus.notifications.wake()
    return delivery


class NotificationsResource:
    def __init__(self, bus):
        self.bus = bus

    def on_get(self, req: falcon.Request, resp: falcon.Response, app: str, job: str) -> None:
        offset, limit = page(req)
        execution = req.get_param_as_int("execution", min_value=1)
        found, hits = self.bus.storage.list_deliveries(app, job, execution, offset, limit)
        resp.media = {"results": [delivery_view(d) for d in found], "hits": hits,
                      "limit": limit, "offset": offset}
