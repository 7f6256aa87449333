"""Schedules as the API and the Scheduler see them: validated input, and the plan of a stored
schedule (its Quartz expression in its zone, with its calendar)."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jsbus.cron.calendar import BusinessCalendar
from jsbus.cron.plan import SchedulePlan
from jsbus.cron.quartz import QuartzCron
from jsbus.errors import CalendarNotFound, ValidationError
from jsbus.model import MisfirePolicy, OverlapPolicy, Schedule
from jsbus.storage import Storage


def zone(name: str, field: str = "schedule/time-zone") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{field}: {name!r} is not an IANA time zone "
                              "(such as Europe/Berlin or UTC)") from None


def plan_for(storage: Storage, schedule: Schedule) -> SchedulePlan:
    calendar = None
    if schedule.calendar:
        calendar = BusinessCalendar.from_model(storage.get_calendar(schedule.calendar))
    return SchedulePlan(QuartzCron.parse(schedule.cron), zone(schedule.time_zone), calendar,
                        schedule.substitution)


def _get(body: dict, name: str, default=None):
    for key in (f"schedule/{name}", name):
        if key in body:
            return body[key]
    return default


def schedule_from_body(storage: Storage, app: str, job: str, body: dict,
                       default_zone: str, now: datetime) -> Schedule:
    """Validate a schedule request (every problem named); check that it will ever fire."""
    messages = []
    cron = _get(body, "cron-notation")
    if not isinstance(cron, str) or not cron.strip():
        messages.append("schedule/cron-notation must be present")
    calendar = _get(body, "calendar")
    if isinstance(calendar, dict):
        calendar = calendar.get("calendar/name", calendar.get("name"))
    if calendar is not None and not isinstance(calendar, str):
        messages.append("schedule/calendar must be a calendar name")
    substitution = _get(body, "substitution?", _get(body, "substitution", False))
    if not isinstance(substitution, bool):
        messages.append("schedule/substitution? must be true or false")
    time_zone = _get(body, "time-zone", default_zone)
    policies = {}
    for name, kind, default in (("misfire-policy", MisfirePolicy, MisfirePolicy.FIRE_ONCE_NOW),
                                ("overlap-policy", OverlapPolicy, OverlapPolicy.ALLOW)):
        value = _get(body, name, default.value)
        try:
            policies[name] = kind(value)
        except ValueError:
            allowed = ", ".join(item.value for item in kind)
            messages.append(f"schedule/{name} must be one of {allowed}")
    try:
        zone(time_zone if isinstance(time_zone, str) else "")
    except ValidationError as exc:
        messages.extend(exc.messages)
    if messages:
        raise ValidationError(messages)
    schedule = Schedule(app=app, job=job, cron=cron.strip(), time_zone=time_zone,
                        calendar=calendar or None, substitution=substitution,
                        misfire_policy=policies["misfire-policy"],
                        overlap_policy=policies["overlap-policy"])
    try:
        plan = plan_for(storage, schedule)
    except CalendarNotFound:
        raise ValidationError(f"schedule/calendar: there is no calendar named {calendar!r}") \
            from None
    plan.check_fires(now)
    return schedule
