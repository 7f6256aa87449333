"""Quartz cron notation: a conformance table (cron_tables/quartz_next.txt), every invalid form
with its message, and a property test against croniter on the subset both understand.

Decisions where Quartz is silent or lenient (also in jsbus/cron/fields.py):
- a range whose end is before its start wraps around, as Quartz's addToSet does: FRI-MON is
  Friday, Saturday, Sunday, Monday; 22-2 hours is 22, 23, 0, 1, 2; a year range cannot wrap;
- names (exactly three letters) may stand wherever a number may: MON-FRI/2, JAN/4, SUNL, MON#1;
- L, W and # forms stand alone in their field (Quartz refuses them in lists);
- nW or L-n naming a day the month does not have (31W in April, L-30 in February) gives no
  fire that month; a step is 1 up to the size of its field.
"""
from __future__ import annotations

import calendar
import time as clock
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from jsbus.cron import CronError
from jsbus.cron.quartz import QuartzCron
from jsbus.errors import ValidationError

TABLE = Path(__file__).parent / "cron_tables" / "quartz_next.txt"


def _when(text: str) -> datetime:
    for layout in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(text.strip(), layout)
        except ValueError:
            pass
    raise ValueError(text)


def _rows():
    for number, line in enumerate(TABLE.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        expression, after, fires = (part.strip() for part in line.split("|"))
        items = [item.strip() for item in fires.split(",")]
        ends = items[-1] == "none"
        expected = [_when(item) for item in items if item != "none"]
        yield pytest.param(expression, _when(after), expected, ends,
                           id=f"{number}:{expression}")


ROWS = list(_rows())


def test_the_table_is_big_enough_and_covers_the_quartz_examples():
    assert len(ROWS) >= 80
    expressions = {row.values[0] for row in ROWS}
    assert len(expressions) >= 80
    documented = ["0 0 12 * * ?", "0 15 10 ? * *", "0 15 10 * * ? 2005", "0 * 14 * * ?",
                  "0 0/5 14 * * ?", "0 0/5 14,18 * * ?", "0 0-5 14 * * ?", "0 10,44 14 ? 3 WED",
                  "0 15 10 ? * MON-FRI", "0 15 10 15 * ?", "0 15 10 L * ?", "0 15 10 ? * 6L",
                  "0 15 10 ? * 6L 2002-2005", "0 15 10 ? * 6#3", "0 0 12 1/5 * ?",
                  "0 11 11 11 11 ?"]
    assert set(documented) <= expressions
    for special in ("L-2", "LW", "L-1W", "15W", "1W", "6L", "6#3", "2#1", "1#5", "0/15",
                    "5/15", "1/5", "FRI-MON", "? * L", "2025/5"):
        assert any(special in expression for expression in expressions), special


@pytest.mark.parametrize("expression, after, expected, ends", ROWS)
def test_next_fires(expression, after, expected, ends):
    cron = QuartzCron.parse(expression)
    got, wall = [], after
    for _ in range(len(expected) + (1 if ends else 0)):
        wall = cron.next_wall(wall)
        got.append(wall)
        if wall is None:
            break
    assert got[:len(expected)] == expected
    if ends:
        assert got[len(expected)] is None
    for fire in expected:
        assert cron.matches(fire)


def test_the_table_weekdays_are_what_the_calendar_says():
    """Spot checks of the calendar facts the table relies on (Python's calendar module)."""
    assert calendar.weekday(2025, 2, 15) == calendar.SATURDAY  # 15W -> Friday 14th
    assert calendar.weekday(2025, 6, 15) == calendar.SUNDAY  # 15W -> Monday 16th
    assert calendar.weekday(2025, 3, 1) == calendar.SATURDAY  # 1W -> Monday 3rd
    assert calendar.weekday(2025, 8, 31) == calendar.SUNDAY  # LW -> Friday 29th
    assert calendar.weekday(2032, 2, 1) == calendar.SUNDAY and calendar.isleap(2032)  # 1#5
    assert calendar.monthrange(2024, 2)[1] == 29 and calendar.monthrange(2025, 2)[1] == 28
    fridays_jan_2002 = [week[calendar.FRIDAY] for week in calendar.monthcalendar(2002, 1)]
    assert max(fridays_jan_2002) == 25  # 6L 2002-2005


INVALID = [
    ("0 0 12 * *", "expected 6 or 7 fields, got 5"),
    ("0 0 12 * * ? 2025 x", "expected 6 or 7 fields, got 8"),
    ("", "expected 6 or 7 fields, got 0"),
    ("0 0 12 * * *", "exactly one of day-of-month and day-of-week must be '?'"),
    ("0 0 12 ? * ?", "exactly one of day-of-month and day-of-week must be '?'"),
    ("0 0 12 1 * MON", "exactly one of day-of-month and day-of-week must be '?'"),
    ("60 0 12 * * ?", "seconds: 60 is out of range 0-59"),
    ("0 60 12 * * ?", "minutes: 60 is out of range 0-59"),
    ("0 0 24 * * ?", "hours: 24 is out of range 0-23"),
    ("0 0 12 0 * ?", "day-of-month: 0 is out of range 1-31"),
    ("0 0 12 32 * ?", "day-of-month: 32 is out of range 1-31"),
    ("0 0 12 * 13 ?", "month: 13 is out of range 1-12"),
    ("0 0 12 * 0 ?", "month: 0 is out of range 1-12"),
    ("0 0 12 ? * 8", "day-of-week: 8 is out of range 1-7 (1 = Sunday)"),
    ("0 0 12 ? * 0", "day-of-week: 0 is out of range 1-7 (1 = Sunday)"),
    ("0 0 12 ? * 8#1", "day-of-week: 8 is out of range 1-7 (1 = Sunday)"),
    ("0 0 12 ? * 8L", "day-of-week: 8 is out of range 1-7 (1 = Sunday)"),
    ("0 0 12 * * ? 1969", "year: 1969 is out of range 1970-2099"),
    ("0 0 12 * * ? 2100", "year: 2100 is out of range 1970-2099"),
    ("0 0 12 * * ? 2030-2025", "year: range 2030-2025 goes backwards"),
    ("0 0 12 ? * FOO", "day-of-week: unknown name 'FOO' (expected SUN-SAT)"),
    ("0 0 12 ? * MONDAY", "day-of-week: unknown name 'MONDAY' (expected SUN-SAT)"),
    ("0 0 12 * JANUARY ?", "month: unknown name 'JANUARY' (expected JAN-DEC)"),
    ("0 0 MON * * ?", "hours: 'MON' is not a number"),
    ("0 -5 12 * * ?", "minutes: '-5' is not a number"),
    ("0 5-x 12 * * ?", "minutes: 'X' is not a number"),
    ("0 1.5 12 * * ?", "minutes: '1.5' is not a number"),
    ("0 0 12 1- * ?", "day-of-month: a value is missing"),
    ("0 0 12 1,,2 * ?", "day-of-month: a value is missing"),
    ("0 */0 12 * * ?", "minutes: step 0 is out of range 1-60"),
    ("0 */61 12 * * ?", "minutes: step 61 is out of range 1-60"),
    ("0 0/x 12 * * ?", "minutes: step 'X' is not a number"),
    ("0 0 12 ? * 2/8", "day-of-week: step 8 is out of range 1-7"),
    ("0 0 12 * * ? 2025/0", "year: step 0 is out of range 1-130"),
    ("? 0 12 * * ?", "seconds: '?' is only allowed in day-of-month and day-of-week"),
    ("0 0 12 ?,1 * ?", "day-of-month: '?' must stand alone"),
    ("0 0 L * * ?", "hours: 'L' is only allowed in day-of-month and day-of-week"),
    ("0 0 12 * * ? L", "year: 'L' is only allowed in day-of-month and day-of-week"),
    ("0 0 5#3 * * ?", "hours: '#' is only allowed in day-of-week"),
    ("0 0 12 * 5W ?", "month: 'W' is only allowed in day-of-month"),
    ("0 0 12 ? * 15W", "day-of-week: 'W' is only allowed in day-of-month"),
    ("0 0 12 ? * L-2", "day-of-week: 'L-n' is only allowed in day-of-month"),
    ("0 0 12 6L * ?", "day-of-month: '6L': 'dL' (last weekday d) is only allowed in day-of-week"),
    ("0 0 12 L-31 * ?", "day-of-month: offset from the last day must be 0-30, got 31"),
    ("0 0 12 32W * ?", "day-of-month: 32 is out of range 1-31"),
    ("0 0 12 0W * ?", "day-of-month: 0 is out of range 1-31"),
    ("0 0 12 1-5W * ?", "day-of-month: '1-5W' is not valid here: use L, L-n, LW, L-nW or nW"),
    ("0 0 12 W * ?", "day-of-month: 'W' is not valid here: use L, L-n, LW, L-nW or nW"),
    ("0 0 12 LW-2 * ?", "day-of-month: 'LW-2' is not valid here: use L, L-n, LW, L-nW or nW"),
    ("0 0 12 L,15 * ?",
     "day-of-month: 'L' and 'W' cannot be combined with other days in a list"),
    ("0 0 12 15W,1 * ?",
     "day-of-month: 'L' and 'W' cannot be combined with other days in a list"),
    ("0 0 12 ? * 6L,2", "day-of-week: 'L' and '#' cannot be combined with other days in a list"),
    ("0 0 12 ? * L,2", "day-of-week: 'L' and '#' cannot be combined with other days in a list"),
    ("0 0 12 ? * 6#1,6#3",
     "day-of-week: 'L' and '#' cannot be combined with other days in a list"),
    ("0 0 12 ? * 6#6", "day-of-week: '#' must be followed by 1-5, got '6'"),
    ("0 0 12 ? * 6#0", "day-of-week: '#' must be followed by 1-5, got '0'"),
    ("0 0 12 ? * 6#", "day-of-week: '#' must be followed by 1-5, got ''"),
    ("0 0 12 ? * #3", "day-of-week: '#3' is not valid: use d#n (n = 1-5)"),
]


@pytest.mark.parametrize("expression, reason", INVALID, ids=[row[0] or "empty" for row in INVALID])
def test_invalid_expressions_name_the_field_and_the_reason(expression, reason):
    with pytest.raises(CronError) as caught:
        QuartzCron.parse(expression)
    assert str(caught.value) == f"schedule/cron-notation: {reason}"
    assert caught.value.messages == [f"schedule/cron-notation: {reason}"]


def test_a_cron_error_is_a_validation_error():
    assert issubclass(CronError, ValidationError)
    with pytest.raises(ValidationError):
        QuartzCron.parse(None)


def test_str_is_the_normalised_expression():
    assert str(QuartzCron.parse("  0 15 10 ? * mon-fri  ")) == "0 15 10 ? * MON-FRI"
    assert str(QuartzCron.parse("0\t0 12 * jan ?  2030")) == "0 0 12 * JAN ? 2030"
    assert QuartzCron.parse("0 0 12 ? * sun#2") == QuartzCron.parse("0 0 12 ? * SUN#2")


def test_names_and_numbers_are_the_same_days():
    assert QuartzCron.parse("0 0 12 ? * SUN-SAT").day_rule == ("weekdays", tuple(range(1, 8)))
    assert QuartzCron.parse("0 0 12 ? * MON,WED").day_rule == QuartzCron.parse(
        "0 0 12 ? * 2,4").day_rule
    assert QuartzCron.parse("0 0 12 * JAN-MAR ?").months == (1, 2, 3)


@pytest.mark.parametrize("expression, more", [
    ("0 0 12 * * ?", False), ("0 0 * * * ?", False), ("30 15 * * * ?", False),
    ("0 */30 * * * ?", True), ("0 0,30 * * * ?", True), ("*/10 0 * * * ?", True),
    ("* * * * * ?", True),
])
def test_fires_more_than_hourly(expression, more):
    assert QuartzCron.parse(expression).fires_more_than_hourly is more


def test_next_wall_wants_naive_times_and_is_strictly_after():
    cron = QuartzCron.parse("0 0 12 * * ?")
    assert cron.next_wall(datetime(2025, 1, 1, 11, 59, 59, 999999)) == datetime(2025, 1, 1, 12)
    assert cron.next_wall(datetime(2025, 1, 1, 12)) == datetime(2025, 1, 2, 12)
    assert cron.next_wall(datetime(2025, 1, 1, 12, 0, 0, 1)) == datetime(2025, 1, 2, 12)
    assert cron.next_wall(datetime(1900, 5, 5)) == datetime(1970, 1, 1, 12)
    assert cron.next_wall(datetime(2099, 12, 31, 12)) is None
    assert cron.next_wall(datetime.max) is None
    with pytest.raises(ValueError):
        cron.next_wall(datetime(2025, 1, 1, tzinfo=timezone.utc))


def test_rare_and_impossible_expressions_are_computed_not_scanned():
    rare = QuartzCron.parse("0 11 11 11 11 ?")
    leap = QuartzCron.parse("0 0 0 ? 2 1#5")
    never = QuartzCron.parse("0 0 0 30 2 ?")
    begin = clock.perf_counter()
    for _ in range(200):
        assert rare.next_wall(datetime(2025, 11, 11, 11, 11)) == datetime(2026, 11, 11, 11, 11)
        assert leap.next_wall(datetime(2033, 1, 1)) == datetime(2060, 2, 29)
        assert never.next_wall(datetime(2025, 1, 1)) is None
    assert (clock.perf_counter() - begin) / 200 < 0.005  # a few hundred microseconds each


def test_every_second_for_a_day_is_consistent():
    """Stepping through a whole day of a busy expression gives exactly what matches()."""
    cron = QuartzCron.parse("*/7 5/20 1-3,22 ? * TUE-THU")
    start = datetime(2025, 1, 7)  # a Tuesday
    walls, wall = [], start - timedelta(seconds=1)
    while (wall := cron.next_wall(wall)) < start + timedelta(days=1):
        walls.append(wall)
    brute = [start + timedelta(seconds=s) for s in range(86400)
             if cron.matches(start + timedelta(seconds=s))]
    assert walls == brute and len(walls) == 4 * 3 * 9


# -- cross-check against croniter on the subset both understand ---------------------------------
croniter = pytest.importorskip("croniter").croniter
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402


def _field(low: int, high: int):
    """A random plain field built from lists, ranges with steps and single values, or '*'."""
    single = st.integers(low, high).map(str)
    ranges = st.tuples(st.integers(low, high - 1), st.integers(1, high - low),
                       st.integers(1, 5)).map(  # a-a/n is left out: croniter misreads it
        lambda t: f"{t[0]}-{min(t[0] + t[1], high)}/{t[2]}")
    listed = st.lists(st.one_of(single, ranges), min_size=1, max_size=3).map(",".join)
    return st.one_of(st.just("*"), listed)


@st.composite
def _expressions(draw):
    seconds, minutes, hours = draw(_field(0, 59)), draw(_field(0, 59)), draw(_field(0, 23))
    months = draw(_field(1, 12))
    if draw(st.booleans()):
        days = draw(_field(1, 28))
        quartz = f"{seconds} {minutes} {hours} {days} {months} ?"
        unix = f"{seconds} {minutes} {hours} {days} {months} *"
    else:
        weekdays = draw(st.lists(st.integers(1, 7), min_size=1, max_size=4, unique=True))
        quartz = f"{seconds} {minutes} {hours} ? {months} {','.join(map(str, weekdays))}"
        unix = (f"{seconds} {minutes} {hours} * {months} "
                f"{','.join(str(day - 1) for day in weekdays)}")  # croniter: 0 = Sunday
    return quartz, unix


@settings(max_examples=150, deadline=None)
@given(_expressions(), st.datetimes(min_value=datetime(2020, 1, 1),
                                    max_value=datetime(2030, 1, 1)))
def test_agrees_with_croniter_on_the_common_subset(pair, start):
    quartz, unix = pair
    start = start.replace(microsecond=0)
    theirs = croniter(unix, start, ret_type=datetime, second_at_beginning=True)
    cron = QuartzCron.parse(quartz)
    wall = start
    for _ in range(3):
        wall = cron.next_wall(wall)
        assert wall == theirs.get_next(), (quartz, unix, start)
