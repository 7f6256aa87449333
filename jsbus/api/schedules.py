"""``/{app}/job/{job}/schedule`` (create, pause, resume, delete), its fire preview and ledger."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import falcon

from jsbus.api import render
from jsbus.api.jobs import page
from jsbus.api.media import read_object
from jsbus.errors import ValidationError
from jsbus.model import Schedule
from jsbus.scheduling import plan_for, schedule_from_body
from jsbus.wire import parse_time


def schedule_view(schedule: Schedule) -> dict:
    return {"schedule/cron-notation": schedule.cron, "schedule/active?": not schedule.paused,
            "schedule/calendar": ({"calendar/name": schedule.calendar}
                                  if schedule.calendar else None),
            "schedule/substitution?": schedule.substitution,
            "schedule/time-zone": schedule.time_zone,
            "schedule/misfire-policy": schedule.misfire_policy.value,
            "schedule/overlap-policy": schedule.overlap_policy.value,
            "schedule/last-slot": render.rfc3339(schedule.last_slot)}


def fire_view(fire, zone: ZoneInfo) -> dict:
    view = {"fire/time": render.rfc3339(fire.slot),
            "fire/local-time": fire.slot.astimezone(zone).isoformat(timespec="seconds")}
    if fire.moved_from is not None:
        view["fire/moved-from"] = render.rfc3339(fire.moved_from)
    if fire.excluded:
        view["fire/excluded"] = fire.excluded
    if fire.dst:
        view["fire/dst"] = fire.dst
    return view


class ScheduleResource:
    def __init__(self, bus):
        self.bus = bus

    def on_post(self, req: falcon.Request, resp: falcon.Response, app: str, job: str) -> None:
        storage = self.bus.storage
        storage.get_job(app, job)
        body = read_object(req, self.bus.config.get("bus.max_body_bytes"))
        schedule = schedule_from_body(storage, app, job, body,
                                      self.bus.config.get("scheduler.time_zone"),
                                      datetime.now(timezone.utc))
        saved = storage.save_schedule(schedule)
        self.bus.schedule_changed(app, job)
        resp.status = falcon.HTTP_201
        resp.location = f"/{app}/job/{job}/schedule"
        resp.media = schedule_view(saved)

    def on_get(self, req: falcon.Request, resp: falcon.Response, app: str, job: str) -> None:
        resp.media = schedule_view(self.bus.storage.get_schedule(app, job))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, app: str, job: str) -> None:
        self.bus.storage.get_schedule(app, job)
        self.bus.storage.delete_schedule(app, job)
        self.bus.schedule_changed(app, job)
        resp.status = falcon.HTTP_204


class ScheduleCommandResource:
    """``PUT .../schedule/pause|resume``, ``GET .../schedule/fires|history``."""

    def __init__(self, bus):
        self.bus = bus

    def on_put(self, req: falcon.Request, resp: falcon.Response, app: str, job: str,
               command: str) -> None:
        if command not in ("pause", "resume"):
            raise falcon.HTTPNotFound(description=f"unknown command {command!r}; use pause "
                                                  "or resume")
        schedule = self.bus.storage.set_schedule_paused(app, job, command == "pause")
        self.bus.schedule_changed(app, job)
        resp.media = schedule_view(schedule)

    def on_get(self, req: falcon.Request, resp: falcon.Response, app: str, job: str,
               command: str) -> None:
        if command == "fires":
            resp.media = self._fires(req, app, job)
        elif command == "history":
            offset, limit = page(req)
            slots, hits = self.bus.storage.list_slots(app, job, offset, limit)
            resp.media = {"results": [render.fire_slot(slot) for slot in slots], "hits": hits,
                          "limit": limit, "offset": offset}
        else:
            raise falcon.HTTPNotFound(description=f"no such resource: {req.path}")

    def _fires(self, req: falcon.Request, app: str, job: str) -> dict:
        schedule = self.bus.storage.get_schedule(app, job)
        count = req.get_param_as_int("n", min_value=1, max_value=1000, default=20)
        raw = req.get_param("from")
        start = parse_time(raw, "from") if raw else datetime.now(timezone.utc)
        plan = plan_for(self.bus.storage, schedule)
        zone = ZoneInfo(schedule.time_zone)
        return {"schedule": schedule_view(schedule), "from": render.rfc3339(start),
                "fires": [fire_view(fire, zone) for fire in plan.preview(start, count)]}


def next_fires(bus, app: str, job: str, count: int,
               known: Schedule | None | bool = False) -> tuple[Schedule | None, list]:
    """The job's schedule and its next ``count`` fires (none when unscheduled or paused);
    ``known``: its schedule (None: it has none) when the caller read it already."""
    if known is not False:
        schedule = known
    else:
        try:
            schedule = bus.storage.get_schedule(app, job)
        except LookupError:
            schedule = None
    if schedule is None:
        return None, []
    if schedule.paused:
        return schedule, []
    try:
        plan = plan_for(bus.storage, schedule)
    except (ValidationError, LookupError):
        return schedule, []
    return schedule, plan.fires(datetime.now(timezone.utc), count)
