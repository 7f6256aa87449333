"""Business calendars: which wall-clock times belong to a business day.

The original's ``HolidayAndWeeklyCalendar``: a set of holidays, seven weekly-holiday flags
(Sunday first) and ``day-start``, the time of day a business day begins. A wall time before
``day-start`` belongs to the previous day: with day-start 02:00, Saturday 01:30 is still
Friday's business day. A time is a business time when its business day is neither a holiday
nor a weekly holiday.

A calendar has no time zone of its own: it is read in the wall clock of the schedule that uses
it (an aware datetime is taken at its own wall-clock time).

Also the validation the API applies to a calendar, with the original's messages
(``day-start: Invalid hh:mm format``, from ``scheduler_test.clj``'s ``hh:mm?`` cases).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Iterable

from jsbus.errors import ValidationError

# The original's pattern: ^([01]?[0-9]|2[0-3]):([0-5][0-9])$ ("2:00" is accepted).
_HH_MM = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ONE_DAY = timedelta(days=1)


def is_hh_mm(text: object) -> bool:
    """The original's ``hh:mm?``: "00:00", "23:59", "2:00" yes; None, "24:01", "01:60" no."""
    return isinstance(text, str) and _HH_MM.fullmatch(text) is not None


def parse_day_start(text: object) -> time:
    """A ``day-start`` value as a time, or ValidationError "day-start: Invalid hh:mm format"."""
    match = _HH_MM.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValidationError("day-start: Invalid hh:mm format")
    return time(int(match.group(1)), int(match.group(2)))


def to_ms(text: object) -> int:
    """The original's ``to-ms-from-hh:mm``: milliseconds since midnight; None, "" or an invalid
    value give 0 ("01:01" -> 3 660 000)."""
    if not is_hh_mm(text):
        return 0
    start = parse_day_start(text)
    return (start.hour * 60 + start.minute) * 60_000


def parse_holiday(value: object) -> date:
    """One holiday: an ISO date "YYYY-MM-DD" (or a ``date``), else ValidationError."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValidationError(f"holidays: {value!r} is not a date (YYYY-MM-DD)")


def parse_weekly_holidays(values: object) -> tuple[bool, ...]:
    """Exactly seven booleans, Sunday first, else ValidationError."""
    if (isinstance(values, (list, tuple)) and len(values) == 7
            and all(isinstance(flag, bool) for flag in values)):
        return tuple(values)
    raise ValidationError("weekly-holiday: must be 7 booleans, Sunday first")


@dataclass(frozen=True)
class BusinessCalendar:
    """A validated calendar, ready to answer "is this wall time on a business day?"."""

    name: str = ""
    holidays: frozenset[date] = frozenset()
    weekly_holidays: tuple[bool, ...] = (False,) * 7  # Sunday, Monday, ... Saturday
    day_start: time = time(0, 0)

    @classmethod
    def from_model(cls, calendar) -> BusinessCalendar:
        """From a ``jsbus.model.Calendar``; every invalid field is named in one
        ValidationError."""
        return cls.build(calendar.name, calendar.holidays, calendar.weekly_holidays,
                         calendar.day_start)

    @classmethod
    def build(cls, name: str = "", holidays: Iterable = (),
              weekly_holidays: object = (False,) * 7,
              day_start: object = "00:00") -> BusinessCalendar:
        messages: list[str] = []
        parsed: set[date] = set()
        for value in holidays:
            try:
                parsed.add(parse_holiday(value))
            except ValidationError as exc:
                messages.extend(exc.messages)
        try:
            weekly = parse_weekly_holidays(weekly_holidays)
        except ValidationError as exc:
            messages.extend(exc.messages)
        try:
            start = day_start if isinstance(day_start, time) else parse_day_start(day_start)
        except ValidationError as exc:
            messages.extend(exc.messages)
        if messages:
            raise ValidationError(messages)
        return cls(name, frozenset(parsed), weekly, start)

    @property
    def never(self) -> bool:
        """Every day of the week is a weekly holiday: nothing is ever a business day (the
        original's "will never fire")."""
        return all(self.weekly_holidays)

    def business_day(self, wall: datetime) -> date:
        """The business day a wall time belongs to: times before day-start belong to the
        previous day."""
        start = self.day_start
        shifted = wall.replace(tzinfo=None) - timedelta(hours=start.hour, minutes=start.minute)
        return shifted.date()

    def is_business_date(self, day: date) -> bool:
        return day not in self.holidays and not self.weekly_holidays[(day.weekday() + 1) % 7]

    def is_business(self, wall: datetime) -> bool:
        """Whether the wall time's business day is neither a holiday nor a weekly holiday."""
        return self.is_business_date(self.business_day(wall))

    @property
    def search_days(self) -> int:
        """More consecutive days than this cannot all be excluded (unless every weekday is):
        each holiday can at worst remove the one business weekday of a week."""
        return 7 * (len(self.holidays) + 1) + 1

    def next_business_date(self, day: date) -> date | None:
        """The first business day after ``day``, or None when there is none."""
        if self.never:
            return None
        for _ in range(self.search_days):
            day += _ONE_DAY
            if self.is_business_date(day):
                return day
        return None

    def previous_business_date(self, day: date) -> date | None:
        """The last business day before ``day``, or None when there is none."""
        if self.never:
            return None
        for _ in range(self.search_days):
            day -= _ONE_DAY
            if self.is_business_date(day):
                return day
        return None

    def day_start_wall(self, day: date) -> datetime:
        """The naive wall time at which business day ``day`` begins."""
        return datetime.combine(day, self.day_start)
