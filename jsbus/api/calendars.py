"""``/calendars`` and ``/calendar/{name}``: business calendars, with the original's messages."""
from __future__ import annotations

import json
from datetime import date

import falcon

from jsbus.api import edn_media, render
from jsbus.api.media import read_object
from jsbus.cron.calendar import parse_day_start
from jsbus.errors import Conflict, ValidationError
from jsbus.model import Calendar

IN_USE = "This calendar is already used by some job."
DOWNLOAD = f"{edn_media.FORCE_DOWNLOAD}; charset=utf-8"


def _get(body: dict, name: str, default=None):
    return body.get(f"calendar/{name}", body.get(name, default))


def calendar_from_body(body: dict, name: str | None = None) -> Calendar:
    messages = []
    name = name if name is not None else _get(body, "name")
    if not isinstance(name, str) or not name.strip():
        messages.append("name must be present")
    holidays = _get(body, "holidays", [])
    if not isinstance(holidays, list):
        messages.append("holidays must be a list of dates (YYYY-MM-DD)")
        holidays = []
    for index, day in enumerate(holidays):
        try:
            date.fromisoformat(str(day)[:10])
        except ValueError:
            messages.append(f"holidays[{index}]: {day!r} is not a date (YYYY-MM-DD)")
    weekly = _get(body, "weekly-holiday", [False] * 7)
    if not (isinstance(weekly, list) and len(weekly) == 7
            and all(isinstance(day, bool) for day in weekly)):
        messages.append("weekly-holiday must be 7 booleans, Sunday first")
        weekly = [False] * 7
    day_start = _get(body, "day-start", "00:00")
    try:
        parsed = parse_day_start(day_start if isinstance(day_start, str) else "")
    except ValidationError as exc:
        messages.extend(exc.messages)
        parsed = None
    if messages:
        raise ValidationError(messages)
    return Calendar(name=name.strip(), holidays=tuple(sorted({str(d)[:10] for d in holidays})),
                    weekly_holidays=tuple(weekly), day_start=parsed.strftime("%H:%M"))


class CalendarsResource:
    def __init__(self, bus):
        self.bus = bus

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        calendars = self.bus.storage.list_calendars()
        if req.get_param("sort-by") == "name:desc":
            calendars = calendars[::-1]
        resp.media = [render.calendar(c) for c in calendars]

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        calendar = calendar_from_body(read_object(req, self.bus.config.get("bus.max_body_bytes")))
        saved, created = self.bus.storage.save_calendar(calendar)
        if not created:
            self.bus.calendar_changed(saved.name)
        resp.status = falcon.HTTP_201 if created else falcon.HTTP_200
        resp.location = f"/calendar/{saved.name}"
        resp.media = render.calendar(saved)

    def on_get_download(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Every calendar as a file: JSON (``cals.json``), or for a client preferring EDN the
        original's EDN vector (``cals.edn``); both ``application/force-download``."""
        calendars = [render.calendar(c) for c in self.bus.storage.list_calendars()]
        if edn_media.preferred(req) == edn_media.EDN:
            edn_media.attachment(resp, calendars, "cals.edn", DOWNLOAD)
            return
        resp.data = json.dumps(calendars, indent=2).encode()
        resp.content_type = DOWNLOAD
        resp.set_header("Content-Disposition", 'attachment; filename="cals.json"')


class CalendarResource:
    def __init__(self, bus):
        self.bus = bus

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        resp.media = render.calendar(self.bus.storage.get_calendar(name))

    def on_put(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        self.bus.storage.get_calendar(name)
        body = read_object(req, self.bus.config.get("bus.max_body_bytes"))
        saved, _ = self.bus.storage.save_calendar(calendar_from_body(body, name))
        self.bus.calendar_changed(name)
        resp.media = render.calendar(saved)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        self.bus.storage.get_calendar(name)
        try:
            self.bus.storage.delete_calendar(name)
        except Conflict as exc:
            raise ValidationError([IN_USE, str(exc)]) from None
        resp.status = falcon.HTTP_204
