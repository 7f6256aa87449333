"""The seven fields of a Quartz expression: parsing each into a set of values or a day rule.

A plain field (seconds, minutes, hours, month, year, and the plain forms of the two day
fields) becomes a sorted tuple of the values it allows. The day fields can instead hold one
special form, which becomes a *day rule*: a small tuple evaluated per month by
:func:`month_days`:

=========================  ==============================================================
``("days", values)``       day of month in ``values`` (``*``, lists, ranges, steps)
``("last", n)``            ``L`` / ``L-n``: the last day of the month minus ``n``
``("last-weekday", n)``    ``LW`` / ``L-nW``: the weekday nearest to the last day minus ``n``
``("nearest-weekday", n)`` ``nW``: the weekday (Mon-Fri) nearest to day ``n``, same month
``("weekdays", values)``   day of week in ``values`` (1 = Sunday ... 7 = Saturday)
``("last-dow", d)``        ``dL``: the last weekday ``d`` of the month
``("nth-dow", d, n)``      ``d#n``: the n-th weekday ``d`` of the month (n = 1..5)
=========================  ==============================================================

Decisions where Quartz is silent or lenient (documented in the tests too): a range whose end
is smaller than its start wraps around (``FRI-MON`` = FRI, SAT, SUN, MON; ``22-2`` hours =
22, 23, 0, 1, 2), as Quartz's ``addToSet`` does, except in the year; names are exactly three
letters and may appear wherever a number may (``MON-FRI/2``, ``JAN/3``); a step is 1 up to
the size of the field; ``L``, ``W`` and ``#`` forms stand alone in their field (Quartz refuses
them in lists); ``nW`` or ``L-n`` naming a day the month does not have gives no day that month.
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from functools import lru_cache

from jsbus.cron.errors import CronError

MIN_YEAR, MAX_YEAR = 1970, 2099
DAY_NAMES = {name: number for number, name in
             enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}
MONTH_NAMES = {name: number for number, name in
               enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP",
                          "OCT", "NOV", "DEC"), start=1)}


@dataclass(frozen=True)
class Field:
    name: str
    low: int
    high: int
    names: dict[str, int] | None = None
    hint: str = ""

    @property
    def span(self) -> int:
        return self.high - self.low + 1


SECONDS = Field("seconds", 0, 59)
MINUTES = Field("minutes", 0, 59)
HOURS = Field("hours", 0, 23)
DAY_OF_MONTH = Field("day-of-month", 1, 31)
MONTH = Field("month", 1, 12, MONTH_NAMES)
DAY_OF_WEEK = Field("day-of-week", 1, 7, DAY_NAMES, " (1 = Sunday)")
YEAR = Field("year", MIN_YEAR, MAX_YEAR)
FIELDS = (SECONDS, MINUTES, HOURS, DAY_OF_MONTH, MONTH, DAY_OF_WEEK, YEAR)

_L_OFFSET = re.compile(r"L-(\d+)(W?)")
_NEAREST = re.compile(r"(\d+)W")
_LAST_DOW = re.compile(r"(\w+)L")
_NTH_DOW = re.compile(r"(\w+)#(\w*)")


def value(field: Field, token: str) -> int:
    """One number or name of ``field``, range-checked."""
    if token.isdigit() and token.isascii():
        number = int(token)
    elif token.isalpha() and token.isascii():
        if field.names is None:
            raise CronError(f"'{token}' is not a number", field.name)
        if token not in field.names:
            known = "-".join((min(field.names, key=field.names.get),
                              max(field.names, key=field.names.get)))
            raise CronError(f"unknown name '{token}' (expected {known})", field.name)
        return field.names[token]
    elif token == "":
        raise CronError("a value is missing", field.name)
    else:
        raise CronError(f"'{token}' is not a number", field.name)
    if not field.low <= number <= field.high:
        raise CronError(f"{number} is out of range {field.low}-{field.high}{field.hint}",
                        field.name)
    return number


def _step(field: Field, token: str) -> int:
    if not (token.isdigit() and token.isascii()):
        raise CronError(f"step '{token}' is not a number", field.name)
    step = int(token)
    if not 1 <= step <= field.span:
        raise CronError(f"step {step} is out of range 1-{field.span}", field.name)
    return step


def _misplaced(field: Field, part: str) -> None:
    """Refuse a special character outside the fields that allow it, with a clear reason."""
    if "?" in part:
        if field in (DAY_OF_MONTH, DAY_OF_WEEK):
            raise CronError("'?' must stand alone", field.name)
        raise CronError("'?' is only allowed in day-of-month and day-of-week", field.name)
    if "#" in part:
        if field is DAY_OF_WEEK:
            raise CronError(f"'{part}' is not valid: use d#n (n = 1-5)", field.name)
        raise CronError("'#' is only allowed in day-of-week", field.name)
    if field is not DAY_OF_MONTH and (re.fullmatch(r"\d*W|L-?\d*W", part) or
                                      (field is DAY_OF_WEEK and part.startswith("L-"))):
        where = "'W'" if "W" in part else "'L-n'"
        raise CronError(f"{where} is only allowed in day-of-month", field.name)
    if field not in (DAY_OF_MONTH, DAY_OF_WEEK) and re.fullmatch(r"\d*L(-\d*)?", part):
        raise CronError("'L' is only allowed in day-of-month and day-of-week", field.name)


def values(field: Field, text: str) -> tuple[int, ...]:
    """The sorted values of a plain field: ``*``, lists, ranges (wrapping), steps, names."""
    result: set[int] = set()
    for part in text.split(","):
        _misplaced(field, part)
        base, slash, step_text = part.partition("/")
        step = _step(field, step_text) if slash else 1
        if base == "*":
            start, stop = field.low, field.high
        elif "-" in base[1:]:
            first, _, last = base.partition("-")
            start, stop = value(field, first), value(field, last)
        else:
            start = value(field, base)
            stop = field.high if slash else start
        if stop < start:
            if field is YEAR:
                raise CronError(f"range {start}-{stop} goes backwards", field.name)
            stop += field.span  # wraps around, as Quartz does: FRI-MON, 22-2
        result.update(field.low + (i - field.low) % field.span
                      for i in range(start, stop + 1, step))
    return tuple(sorted(result))


def day_of_month_rule(text: str) -> tuple | None:
    """``None`` for ``?``, else a day rule (see the module docstring)."""
    if text == "?":
        return None
    if "L" in text or "W" in text:
        if "," in text:
            raise CronError("'L' and 'W' cannot be combined with other days in a list",
                            DAY_OF_MONTH.name)
        if text in ("L", "LW"):
            return ("last" if text == "L" else "last-weekday", 0)
        if match := _L_OFFSET.fullmatch(text):
            offset = int(match.group(1))
            if offset > 30:
                raise CronError(f"offset from the last day must be 0-30, got {offset}",
                                DAY_OF_MONTH.name)
            return ("last-weekday" if match.group(2) else "last", offset)
        if match := _NEAREST.fullmatch(text):
            return ("nearest-weekday", value(DAY_OF_MONTH, match.group(1)))
        if re.fullmatch(r"\w+L", text):
            raise CronError(f"'{text}': 'dL' (last weekday d) is only allowed in day-of-week",
                            DAY_OF_MONTH.name)
        raise CronError(f"'{text}' is not valid here: use L, L-n, LW, L-nW or nW",
                        DAY_OF_MONTH.name)
    return ("days", values(DAY_OF_MONTH, text))


def day_of_week_rule(text: str) -> tuple | None:
    """``None`` for ``?``, else a day rule (see the module docstring)."""
    if text == "?":
        return None
    if text == "L":
        return ("weekdays", (7,))  # Quartz: L alone in day-of-week is 7, Saturday
    special = "#" in text or any(re.fullmatch(r"\w*L", part) for part in text.split(","))
    if special and "," in text:
        raise CronError("'L' and '#' cannot be combined with other days in a list",
                        DAY_OF_WEEK.name)
    if match := _NTH_DOW.fullmatch(text):
        day = value(DAY_OF_WEEK, match.group(1))
        nth = match.group(2)
        if not (nth.isdigit() and nth.isascii() and 1 <= int(nth) <= 5):
            raise CronError(f"'#' must be followed by 1-5, got '{nth}'", DAY_OF_WEEK.name)
        return ("nth-dow", day, int(nth))
    if match := _LAST_DOW.fullmatch(text):
        return ("last-dow", value(DAY_OF_WEEK, match.group(1)))
    return ("weekdays", values(DAY_OF_WEEK, text))


def quartz_weekday(year: int, month: int, day: int) -> int:
    """Quartz's day of week: 1 = Sunday ... 7 = Saturday."""
    return (calendar.weekday(year, month, day) + 1) % 7 + 1


def _nearest_weekday(year: int, month: int, day: int, last: int) -> int:
    """Quartz's ``W``: Saturday -> Friday before (Monday the 3rd for the 1st), Sunday ->
    Monday after (Friday before for the last day): never leaves the month."""
    weekday = quartz_weekday(year, month, day)
    if weekday == 7:
        return day + 2 if day == 1 else day - 1
    if weekday == 1:
        return day - 2 if day == last else day + 1
    return day


@lru_cache(maxsize=4096)
def month_days(rule: tuple, year: int, month: int) -> tuple[int, ...]:
    """The days of ``year``-``month`` a day rule allows, sorted."""
    last = calendar.monthrange(year, month)[1]
    kind = rule[0]
    if kind == "days":
        return tuple(day for day in rule[1] if day <= last)
    if kind == "weekdays":
        first = quartz_weekday(year, month, 1)
        return tuple(day for day in range(1, last + 1)
                     if (first + day - 2) % 7 + 1 in rule[1])
    if kind in ("last", "last-weekday"):
        day = last - rule[1]
        if day < 1:
            return ()
        return (day if kind == "last" else _nearest_weekday(year, month, day, last),)
    if kind == "nearest-weekday":
        return (_nearest_weekday(year, month, rule[1], last),) if rule[1] <= last else ()
    first_match = 1 + (rule[1] - quartz_weekday(year, month, 1)) % 7
    if kind == "last-dow":
        return (first_match + 7 * ((last - first_match) // 7),)
    day = first_match + 7 * (rule[2] - 1)  # nth-dow
    return (day,) if day <= last else ()
