"""Job settings in the original's shapes, as data: their views (``job/time-monitor``,
``job/status-notifications``) and the checks of their request bodies. No falcon here: the job
list, the export and import, and the settings resources share it."""
from __future__ import annotations

from typing import Any

from jsbus.errors import ValidationError
from jsbus.model import BatchStatus, MonitorAction, StatusNotification, TimeMonitor

MAX_MONITOR_MINUTES = 525_600  # a year
MAX_TYPE_LENGTH = 200


def monitor_view(monitor: TimeMonitor | None) -> dict[str, Any] | None:
    if monitor is None:
        return None
    return {"time-monitor/duration": monitor.duration,
            "time-monitor/action": f"action/{monitor.action.value}",
            "time-monitor/notification-type": monitor.notification_type}


def notification_view(notification: StatusNotification) -> dict[str, Any]:
    return {"db/id": notification.id, "status-notification/type": notification.type,
            "status-notification/batch-status": (notification.batch_status.ident
                                                 if notification.batch_status else None),
            "status-notification/exit-status": notification.exit_status}


def settings_view(bus, app: str, job: str, stored=None) -> dict[str, Any]:
    """The original's ``GET .../settings`` answer (also in a job's detail, and the ``settings``
    part of the list); ``stored`` is the job when the caller has read it already."""
    known = stored is not None
    stored = stored or bus.storage.get_job(app, job)
    return {"job/exclusive?": stored.exclusive,
            "job/time-monitor": monitor_view(stored.time_monitor),
            "job/status-notifications": [notification_view(n) for n in
                                         bus.storage.status_notifications(app, job, known)]}


def _enum(body: dict, key: str, prefix: str, enum_type, messages: list[str]):
    """``prefix/name`` or ``name`` as a member of ``enum_type``; None when absent."""
    value = body.get(key)
    if value is None:
        return None
    name = value.removeprefix(prefix + "/") if isinstance(value, str) else None
    try:
        return enum_type(name)
    except ValueError:
        allowed = ", ".join(f"{prefix}/{member.value}" for member in enum_type)
        messages.append(f"{key} must be one of {allowed}")
        return None


def _routing_key(body: dict, key: str, messages: list[str], required: bool) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        if required:
            messages.append(f"{key} must be present")
        return None
    if not isinstance(value, str) or len(value) > MAX_TYPE_LENGTH or "/" in value:
        messages.append(f"{key} must be a string of at most {MAX_TYPE_LENGTH} characters "
                        "without '/' (it is the last segment of the notifier's URL)")
        return None
    return value


def parse_notification(body: dict) -> tuple[str, BatchStatus | None, str | None]:
    messages: list[str] = []
    kind = _routing_key(body, "status-notification/type", messages, required=True)
    status = _enum(body, "status-notification/batch-status", "batch-status", BatchStatus,
                   messages)
    exit_status = body.get("status-notification/exit-status")
    if exit_status is not None and (not isinstance(exit_status, str) or not exit_status):
        messages.append("status-notification/exit-status must be a non-empty string")
    if (body.get("status-notification/batch-status") is None and exit_status is None):
        messages.append("status-notification/batch-status or status-notification/exit-status "
                        "must be present (the status that triggers the notification)")
    if messages:
        raise ValidationError(messages)
    return kind, status, exit_status


def parse_monitor(body: dict) -> TimeMonitor:
    messages: list[str] = []
    duration = body.get("time-monitor/duration")
    if duration is None:
        messages.append("time-monitor/duration must be present (minutes)")
    elif (isinstance(duration, bool) or not isinstance(duration, int)
          or not 1 <= duration <= MAX_MONITOR_MINUTES):
        messages.append(f"time-monitor/duration must be a whole number of minutes from 1 to "
                        f"{MAX_MONITOR_MINUTES}")
    if body.get("time-monitor/action") is None:
        messages.append("time-monitor/action must be present (action/alert, action/stop or "
                        "action/abandon)")
    action = _enum(body, "time-monitor/action", "action", MonitorAction, messages)
    kind = _routing_key(body, "time-monitor/notification-type", messages,
                        required=action is MonitorAction.ALERT)
    if messages:
        raise ValidationError(messages)
    return TimeMonitor(duration=duration, action=action, notification_type=kind)
