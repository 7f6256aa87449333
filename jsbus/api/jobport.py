"""Export and import of an application's jobs: ``GET /{app}/jobs/download`` writes every job
(its document, ``job/exclusive?`` and schedule) as one JSON list, or for an EDN client as the
original's EDN vector file (``jobs.edn``); ``POST /{app}/jobs`` with such a list or vector creates
or replaces them all, or, when any item is bad, none (every problem named).

The original's own export (``:job/bpmn-xml-notation``, BPMN jobs) cannot be imported: jsbus reads
JSR-352 job documents only, and says so for each such item."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from jsbus.api.jobsettings import (monitor_view, notification_view, parse_monitor,
                                   parse_notification)
from jsbus.components import restricted_uses
from jsbus.errors import ScheduleNotFound, ValidationError
from jsbus.jsl import definition_from_document, job_to_document
from jsbus.model import Job, JobDefinition, Schedule
from jsbus.scheduling import schedule_from_body

IMPORT_LIMIT = 10_000  # jobs in one import
UNSCHEDULE = object()  # an item whose job/schedule is null
BPMN = "job/bpmn-xml-notation"  # the original's job notation (its export's items)


def export_job(bus, job: Job) -> dict[str, Any]:
    try:
        schedule = bus.storage.get_schedule(job.app, job.name)
    except ScheduleNotFound:
        schedule = None
    notifications = [{k: v for k, v in notification_view(n).items() if k != "db/id"}
                     for n in bus.storage.status_notifications(job.app, job.name)]
    return {"job/name": job.name, "job/document": job_to_document(job.definition),
            "job/exclusive?": job.exclusive,
            "job/schedule": schedule_request(schedule) if schedule else None,
            "job/time-monitor": monitor_view(job.time_monitor),
            "job/status-notifications": notifications}


def schedule_request(schedule: Schedule) -> dict[str, Any]:
    """A schedule as ``POST .../schedule`` takes it, plus whether it is paused."""
    return {"schedule/cron-notation": schedule.cron, "schedule/calendar": schedule.calendar,
            "schedule/substitution?": schedule.substitution,
            "schedule/time-zone": schedule.time_zone,
            "schedule/misfire-policy": schedule.misfire_policy.value,
            "schedule/overlap-policy": schedule.overlap_policy.value,
            "schedule/active?": not schedule.paused}


def _item(bus, app: str, index: int, item: Any,
          messages: list[str]) -> tuple[JobDefinition, bool | None, Any, dict] | None:
    where = f"[{index}]"
    if not isinstance(item, dict):
        messages.append(f"{where} must be a job document or an exported job object")
        return None
    if "job/document" not in item and BPMN in item:
        messages.append(f"{where}: job {item.get('job/name')!r} is the original's BPMN job "
                        f"({BPMN}), which jsbus cannot import; import it as a JSR-352 job "
                        f"document (job/document: JSON, EDN or Job XML)")
        return None
    document = item.get("job/document", item)
    try:
        definition = definition_from_document(document)
    except ValidationError as exc:
        messages.extend(f"{where}: {message}" for message in exc.messages)
        return None
    name = item.get("job/name", definition.id)
    if name != definition.id:
        messages.append(f"{where}: job/name {name!r} differs from the document's id "
                        f"{definition.id!r}")
    exclusive = item.get("job/exclusive?")
    if exclusive is not None and not isinstance(exclusive, bool):
        messages.append(f"{where}: job/exclusive? must be true or false")
    schedule = None
    body = item.get("job/schedule")
    if body is not None:
        if not isinstance(body, dict):
            messages.append(f"{where}: job/schedule must be an object")
            return None
        try:
            schedule = schedule_from_body(bus.storage, app, definition.id, body,
                                          bus.config.get("scheduler.time_zone"),
                                          datetime.now(timezone.utc))
        except ValidationError as exc:
            messages.extend(f"{where}: {message}" for message in exc.messages)
            return None
        active = body.get("schedule/active?", True)
        if active is False:
            schedule = replace(schedule, paused=True)
    elif "job/schedule" in item:
        schedule = UNSCHEDULE  # an exported job without a schedule: it has none after import
    return definition, exclusive, schedule, _settings(item, where, messages)


def _settings(item: dict, where: str, messages: list[str]) -> dict[str, Any]:
    """The item's time monitor and status notifications, by storage method; a key the item
    does not carry leaves that setting as it is."""
    settings: dict[str, Any] = {}
    try:
        if item.get("job/time-monitor") is not None:
            if not isinstance(item["job/time-monitor"], dict):
                raise ValidationError("job/time-monitor must be an object or null")
            settings["monitor"] = parse_monitor(item["job/time-monitor"])
        elif "job/time-monitor" in item:
            settings["monitor"] = None
        if "job/status-notifications" in item:
            listed = item["job/status-notifications"] or []
            if not isinstance(listed, list) or not all(isinstance(n, dict) for n in listed):
                raise ValidationError("job/status-notifications must be a list of objects")
            settings["notifications"] = [parse_notification(n) for n in listed]
    except ValidationError as exc:
        messages.extend(f"{where}: {message}" for message in exc.messages)
    return settings


def _apply_settings(storage, app: str, name: str, settings: dict[str, Any]) -> None:
    if "monitor" in settings:
        storage.set_time_monitor(app, name, settings["monitor"])
    if "notifications" in settings:
        for old in storage.status_notifications(app, name):
            storage.remove_status_notification(app, name, old.id)
        for notification in settings["notifications"]:
            storage.add_status_notification(app, name, *notification)


def import_jobs(bus, app: str, items: list) -> tuple[list[str], list[str]]:
    """Create or replace every job of ``items``; (created names, replaced names)."""
    storage = bus.storage
    storage.get_application(app)
    if not items:
        raise ValidationError("the import holds no jobs")
    if len(items) > IMPORT_LIMIT:
        raise ValidationError(f"an import holds at most {IMPORT_LIMIT} jobs, not {len(items)}")
    messages: list[str] = []
    parsed = [_item(bus, app, index, item, messages) for index, item in enumerate(items)]
    enabled = storage.get_application(app).builtins
    for index, item in enumerate(parsed):
        if item is not None:
            messages.extend(f"[{index}] {m}" for m in restricted_uses(item[0], enabled))
    names = [p[0].id for p in parsed if p is not None]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        messages.append(f"jobs named more than once: {', '.join(twice)}")
    if messages:
        raise ValidationError(messages)
    created, replaced = [], []
    with storage.batch():  # all or nothing
        for definition, exclusive, schedule, settings in parsed:
            _, new = storage.save_job(app, definition)
            (created if new else replaced).append(definition.id)
            if exclusive is not None:
                storage.set_job_exclusive(app, definition.id, exclusive)
            if schedule is UNSCHEDULE:
                try:
                    storage.delete_schedule(app, definition.id)
                except ScheduleNotFound:
                    pass
            elif schedule is not None:
                storage.save_schedule(schedule)
            _apply_settings(storage, app, definition.id, settings)
    bus.notifications.forget()
    for name in created + replaced:
        bus.schedule_changed(app, name)
    return created, replaced
