"""Quartz cron expressions: parsing, and the next matching wall-clock time.

``QuartzCron.parse("0 15 10 ? * 6L 2002-2005")`` reads the notation of Quartz's
``CronExpression`` (``/work/shared/reference/quartz-cron.md``): seconds, minutes, hours,
day-of-month, month, day-of-week (1 = Sunday ... 7 = Saturday) and an optional year
1970-2099, with ``* ? , - /``, ``L``, ``L-n``, ``LW``, ``nW``, ``dL``, ``d#n`` and the names
SUN-SAT and JAN-DEC in any case. A bad expression raises :class:`jsbus.cron.CronError` naming
the field and the reason. ``str(cron)`` is the normalised expression (upper case, single
spaces).

``cron.next_wall(after)`` works on naive wall-clock times; time zones and daylight saving time
are :mod:`jsbus.cron.plan`'s business. It searches field by field: years, then months, then the
days the day rule allows in that month, then the first time of day at or after the start, so
an expression that matches once a year costs a few dozen steps, never a scan of seconds.

No other Python cron library reads Quartz as it is (different day-of-week numbering, no
``L-n``, ``LW`` or ``dL``, uneven ``?`` and year support: ``stack-notes.md`` section 7); the
tests cross-check the common subset against croniter.
"""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from jsbus.cron import fields
from jsbus.cron.errors import CronError

_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class QuartzCron:
    """A parsed Quartz expression. Build it with :meth:`parse`."""

    expression: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    day_rule: tuple  # see jsbus.cron.fields: ("days", ...), ("last", n), ("nth-dow", d, n)...
    months: tuple[int, ...]
    years: tuple[int, ...] | None  # None: any year 1970-2099

    @classmethod
    def parse(cls, expression: str) -> QuartzCron:
        if not isinstance(expression, str):
            raise CronError("must be a string of 6 or 7 fields")
        parts = expression.upper().split()
        if len(parts) not in (6, 7):
            raise CronError(f"expected 6 or 7 fields, got {len(parts)}")
        dom, dow = parts[3], parts[5]
        if (dom == "?") == (dow == "?"):
            raise CronError("exactly one of day-of-month and day-of-week must be '?'")
        seconds = fields.values(fields.SECONDS, parts[0])
        minutes = fields.values(fields.MINUTES, parts[1])
        hours = fields.values(fields.HOURS, parts[2])
        day_rule = fields.day_of_month_rule(dom) or fields.day_of_week_rule(dow)
        months = fields.values(fields.MONTH, parts[4])
        years = fields.values(fields.YEAR, parts[6]) if len(parts) == 7 else None
        if years == tuple(range(fields.MIN_YEAR, fields.MAX_YEAR + 1)):
            years = None
        return cls(" ".join(parts), seconds, minutes, hours, day_rule, months, years)

    def __str__(self) -> str:
        return self.expression

    @property
    def fires_more_than_hourly(self) -> bool:
        """True when it can match more than once within one hour (sub-hourly steps or
        lists): the DST rule then fires at every real instant that matches."""
        return len(self.seconds) * len(self.minutes) > 1

    # -- searching ------------------------------------------------------------------------------
    def days(self, year: int, month: int) -> tuple[int, ...]:
        """The days of a month the expression's day rule allows (month and year not checked)."""
        return fields.month_days(self.day_rule, year, month)

    def matches(self, wall: datetime) -> bool:
        """Whether a naive wall time (whole seconds) matches every field."""
        return (wall.second in self.seconds and wall.minute in self.minutes
                and wall.hour in self.hours and wall.month in self.months
                and (self.years is None or wall.year in self.years)
                and fields.MIN_YEAR <= wall.year <= fields.MAX_YEAR
                and wall.day in self.days(wall.year, wall.month))

    def _years(self, start: int):
        if self.years is None:
            return range(max(start, fields.MIN_YEAR), fields.MAX_YEAR + 1)
        return self.years[bisect_left(self.years, start):]

    def _time_from(self, hour: int, minute: int, second: int) -> time | None:
        """The first time of day at or after hour:minute:second that matches, or None."""
        hours, minutes, seconds = self.hours, self.minutes, self.seconds
        h = bisect_left(hours, hour)
        if h < len(hours) and hours[h] == hour:
            m = bisect_left(minutes, minute)
            if m < len(minutes) and minutes[m] == minute:
                s = bisect_left(seconds, second)
                if s < len(seconds):
                    return time(hour, minute, seconds[s])
                m += 1
            if m < len(minutes):
                return time(hour, minutes[m], seconds[0])
            h += 1
        if h < len(hours):
            return time(hours[h], minutes[0], seconds[0])
        return None

    def next_wall(self, after: datetime) -> datetime | None:
        """The first naive wall time strictly after the naive ``after`` that matches, or None
        when there is none up to the end of 2099 (or the expression's last year)."""
        if after.tzinfo is not None:
            raise ValueError("next_wall works on naive wall-clock times")
        if after.year > fields.MAX_YEAR:
            return None
        start = after.replace(microsecond=0) + _SECOND
        first_time = time(self.hours[0], self.minutes[0], self.seconds[0])
        for year in self._years(start.year):
            for month in self.months[bisect_left(self.months, start.month)
                                     if year == start.year else 0:]:
                same_month = (year, month) == (start.year, start.month)
                days = self.days(year, month)
                for day in days[bisect_left(days, start.day) if same_month else 0:]:
                    if same_month and day == start.day:
                        found = self._time_from(start.hour, start.minute, start.second)
                        if found is None:
                            continue
                        return datetime.combine(start.date(), found)
                    return datetime(year, month, day, first_time.hour, first_time.minute,
                                    first_time.second)
        return None

    def has_fire_after(self, after: datetime) -> bool:
        return self.next_wall(after) is not None
