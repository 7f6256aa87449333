"""When a schedule fires: a Quartz expression in a time zone, with a business calendar and
optional substitution. Instants in and out are aware datetimes; results are in UTC.

Daylight saving time (computed in the schedule's zone with zoneinfo):

(a) a wall time that does not exist (spring forward) fires once, at the first instant after
    the gap: Europe/Berlin 2025-03-30 02:30 fires at 03:00 CEST = 01:00 UTC (``dst="gap"``).
    Every match inside the gap collapses into that one instant, and a real match at the end of
    the gap (03:00) is the same fire, never a second one.
(b) a wall time that happens twice (fall back) fires once, at its first occurrence (fold=0,
    the earlier offset) (``dst="fold"``);
(c) except for expressions that can match more than once an hour
    (``QuartzCron.fires_more_than_hourly``: sub-hourly steps or lists of minutes/seconds): they
    fire at every real instant that matches, both passes through the repeated hour included
    (``0 */30 1-3 * * ?``, Berlin 2025-10-26: 01:00, 01:30, 02:00+02, 02:30+02, 02:00+01,
    02:30+01, 03:00 ...).
Fires are strictly increasing: never two at one instant.

Calendars (the original's ``HolidayAndWeeklyCalendar``, read in the schedule's wall clock): a
regular fire whose business day (day-start applied) is not a business day does not fire.

Substitution (the original's ``CronAlternativeTrigger``): such a fire moves to the next
business day at the same wall time, unless the next *included* regular fire comes first or at
the same instant; then it is dropped (no double fire). As in Quartz the chain restarts after
each fire: regular slots between an excluded slot and its substitute are passed over. The
chain is computed from an anchor before ``after`` (the start of the run of non-business days
``after`` is in or follows), so the answer does not depend on where a caller starts: stepping
from any slot of :meth:`SchedulePlan.preview` continues the same sequence. One deliberate
difference: when no regular fire is ever included (a Sunday cron with Sundays off), the
original never fires; here the excluded fires still move to the next business day.

``preview`` lists every regular slot exactly once: as a fire, as ``excluded="calendar"``, or as
the ``moved_from`` of the fire that replaced it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import islice
from typing import Iterator
from zoneinfo import ZoneInfo

from jsbus.cron import zone as zones
from jsbus.cron.calendar import BusinessCalendar
from jsbus.cron.errors import PREFIX
from jsbus.cron.quartz import QuartzCron
from jsbus.errors import ValidationError

_TICK = timedelta(microseconds=1)
EXCLUDED_BY_CALENDAR = "calendar"


@dataclass(frozen=True)
class Fire:
    slot: datetime  # aware UTC: the instant it fires
    local: datetime  # the same instant, aware, in the schedule's zone
    wall: datetime  # naive wall time the expression matched (a moved fire: its new wall time)
    moved_from: datetime | None = None  # UTC slot of the regular fire a substitution moved
    excluded: str | None = None  # why this regular slot does not fire ("calendar")
    dst: str | None = None  # "gap": the wall time did not exist; "fold": it happened twice


class SchedulePlan:
    """The fires of one schedule. Pure: every method takes the time it starts from."""

    def __init__(self, cron: QuartzCron | str, zone: str | ZoneInfo,
                 calendar: BusinessCalendar | None = None, substitution: bool = False):
        self.cron = cron if isinstance(cron, QuartzCron) else QuartzCron.parse(cron)
        self.zone = zones.resolve(zone)
        self.calendar = calendar
        self.substitution = bool(substitution) and calendar is not None
        self._every_instant = self.cron.fires_more_than_hourly

    def __repr__(self) -> str:
        return (f"SchedulePlan({str(self.cron)!r}, {self.zone.key!r}, "
                f"calendar={getattr(self.calendar, 'name', None)!r}, "
                f"substitution={self.substitution})")

    # -- public -------------------------------------------------------------------------------
    def next_fire(self, after: datetime, until: datetime | None = None) -> Fire | None:
        """The first fire strictly after ``after`` (and not after ``until``), or None."""
        end = None if until is None else zones.to_utc(until, "until")
        return next(self._entries(zones.to_utc(after), False, end), None)

    def fires(self, after: datetime, n: int) -> list[Fire]:
        """The next ``n`` fires after ``after``."""
        return list(islice(self._entries(zones.to_utc(after), False), max(n, 0)))

    def between(self, start: datetime, end: datetime, limit: int = 1000) -> list[Fire]:
        """The fires with start < slot <= end, at most ``limit`` of them (the earliest)."""
        last = zones.to_utc(end, "end")
        return list(islice(self._entries(zones.to_utc(start, "start"), False, last),
                           max(limit, 0)))

    def preview(self, after: datetime, n: int) -> list[Fire]:
        """The next ``n`` entries after ``after``: fires (moved ones with ``moved_from``) and
        the regular slots the calendar removed (``excluded="calendar"``)."""
        return list(islice(self._entries(zones.to_utc(after), True), max(n, 0)))

    def check_fires(self, after: datetime, horizon_years: int = 5) -> None:
        """ValidationError when the schedule would never fire: the expression has no time
        after ``after``, or the calendar excludes every fire of ``horizon_years`` years."""
        start = zones.to_utc(after)
        first = self._regular(start)
        if first is None:
            moment = start.astimezone(self.zone).isoformat(timespec="seconds")
            raise ValidationError(f"{PREFIX}: no fire time after {moment}")
        if self.calendar is None:
            return
        if self.calendar.never:
            raise ValidationError("schedule: the calendar excludes every day of the week, "
                                  "so the schedule would never fire")
        until = first.slot + timedelta(days=365 * horizon_years + (horizon_years + 3) // 4)
        if self.next_fire(start, until) is None:
            raise ValidationError(f"schedule: every fire in the next {horizon_years} years "
                                  "falls on a day the calendar excludes")

    # -- regular fires: the expression in the zone ---------------------------------------------
    def _fire(self, slot: datetime, wall: datetime, dst: str | None, **extra) -> Fire:
        return Fire(slot, slot.astimezone(self.zone), wall, dst=dst, **extra)

    def _regular(self, after: datetime) -> Fire | None:
        """The first regular fire strictly after the UTC instant ``after`` (DST rules a-c)."""
        local = after.astimezone(self.zone)
        wall = local.replace(tzinfo=None, fold=0)
        if zones.kind(wall, self.zone) == "fold":
            start, end = zones.fold_range(wall, self.zone)
            first_pass = local.fold == 0
            if first_pass:  # later walls of the first pass come first
                found = self.cron.next_wall(wall)
                if found is not None and found < end:
                    return self._fire(zones.first_instant(found, self.zone)[0], found, "fold")
            if self._every_instant:  # then (or now) the second pass
                found = self.cron.next_wall(start - _TICK if first_pass else wall)
                if found is not None and found < end:
                    return self._fire(zones.second_instant(found, self.zone), found, "fold")
            wall = end - _TICK
        found = self.cron.next_wall(wall)
        if found is None:
            return None
        slot, dst = zones.first_instant(found, self.zone)
        return self._fire(slot, found, dst)

    # -- the calendar -------------------------------------------------------------------------
    def _included(self, fire: Fire) -> bool:
        return self.calendar is None or self.calendar.is_business(fire.local)

    def _business_start(self, day) -> datetime:
        """The first instant of business day ``day``."""
        return zones.first_instant(self.calendar.day_start_wall(day), self.zone)[0]

    def _past_excluded_day(self, fire: Fire) -> datetime | None:
        """Where to look next after an excluded fire: just before the next business day."""
        day = self.calendar.next_business_date(self.calendar.business_day(fire.local))
        if day is None:
            return None
        return max(self._business_start(day) - _TICK, fire.slot)

    def _next_included(self, after: datetime, until: datetime | None) -> Fire | None:
        while (fire := self._regular(after)) is not None:
            if until is not None and fire.slot > until:
                return None
            if self._included(fire):
                return fire
            after = self._past_excluded_day(fire)
            if after is None:
                return None
        return None

    def _substitute(self, fire: Fire) -> Fire | None:
        """The excluded fire at the same wall time on the next business day."""
        for days in range(1, self.calendar.search_days + 1):
            wall = fire.wall + timedelta(days=days)
            slot, dst = zones.first_instant(wall, self.zone)
            if slot > fire.slot and self.calendar.is_business(slot.astimezone(self.zone)):
                return self._fire(slot, wall, dst, moved_from=fire.slot)
        return None

    def _anchor(self, after: datetime) -> datetime:
        """Where the substitution chain must start to reach ``after`` as it would from any
        earlier fire: the start of the run of non-business days before ``after``'s business
        day. Chains from earlier slots end before it (their substitutes land on a business day
        before it)."""
        day = self.calendar.business_day(after.astimezone(self.zone))
        previous = self.calendar.previous_business_date(day)
        if previous is None:
            return after
        return min(self._business_start(previous + timedelta(days=1)) - _TICK, after)

    # -- the sequence -------------------------------------------------------------------------
    def _entries(self, after: datetime, with_excluded: bool,
                 until: datetime | None = None) -> Iterator[Fire]:
        """Fires after ``after`` in order (and, ``with_excluded``, the excluded slots)."""
        if self.calendar is None or not self.substitution:
            position = after
            while (fire := self._regular(position)) is not None:
                if until is not None and fire.slot > until:
                    return
                if self._included(fire):
                    yield fire
                elif with_excluded:
                    yield replace(fire, excluded=EXCLUDED_BY_CALENDAR)
                else:
                    position = self._past_excluded_day(fire)
                    if position is None:
                        return
                    continue
                position = fire.slot
            return
        yield from self._substituted(after, with_excluded, until)

    def _substituted(self, after: datetime, with_excluded: bool,
                     until: datetime | None) -> Iterator[Fire]:
        position = self._anchor(after)
        while (fire := self._regular(position)) is not None:
            if until is not None and fire.slot > until:
                return
            if self._included(fire):
                if fire.slot > after:
                    yield fire
                position = max(fire.slot, after)  # up to `after`: the same business day
                continue
            moved = self._substitute(fire)
            expected = self._next_included(fire.slot, moved.slot if moved else until)
            if moved is not None and (expected is None or moved.slot < expected.slot):
                target = moved
            else:
                target = expected  # the next regular fire comes first: dropped
            if with_excluded:
                if target is not moved and fire.slot > after:
                    yield replace(fire, excluded=EXCLUDED_BY_CALENDAR)
                passed = max(fire.slot, after)
                while (skipped := self._regular(passed)) is not None and (
                        target is None or skipped.slot < target.slot) and (
                        until is None or skipped.slot <= until):
                    yield replace(skipped, excluded=EXCLUDED_BY_CALENDAR)
                    passed = skipped.slot
            if target is None or (until is not None and target.slot > until):
                return
            if target.slot > after:
                yield target
            position = target.slot
