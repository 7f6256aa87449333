"""Business calendars and substitution: the original's HolidayTest and scheduler_test cases,
and the CronAlternativeTrigger behaviour (substitution) it had no tests for."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from jsbus.cron.calendar import (BusinessCalendar, is_hh_mm, parse_day_start, to_ms)
from jsbus.cron.plan import SchedulePlan
from jsbus.errors import ValidationError
from jsbus.model import Calendar

UTC = timezone.utc
WEEKENDS = (True, False, False, False, False, False, True)  # Sunday first
ONLY_THURSDAY = (True, True, True, True, False, True, True)


def calendar(day_start="00:00", holidays=(), weekly=WEEKENDS) -> BusinessCalendar:
    return BusinessCalendar.from_model(Calendar(name="cal", holidays=tuple(holidays),
                                                weekly_holidays=weekly, day_start=day_start))


def local(text: str, zone: str = "UTC") -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def days(fires) -> list[int]:
    return [fire.local.day for fire in fires]


def stamps(fires) -> list[str]:
    """'07-21 10:00' plus ' <- 07-20 10:00' for a moved fire, ' excluded' for an excluded."""
    out = []
    for fire in fires:
        text = fire.local.strftime("%m-%d %H:%M")
        if fire.moved_from is not None:
            text += " <- " + fire.moved_from.astimezone(fire.local.tzinfo).strftime("%m-%d %H:%M")
        if fire.excluded:
            text += f" {fire.excluded}"
        out.append(text)
    return out


# -- HolidayTest (the original's Java test), a daily 00:00 schedule from Wed 2015-07-15 -----------
DAILY = "0 0 0 * * ?"
FROM_WEDNESDAY = local("2015-07-14T23:59:59")


def test_fire_weekday():
    plan = SchedulePlan(DAILY, "UTC", calendar())
    assert days(plan.fires(FROM_WEDNESDAY, 5)) == [15, 16, 17, 20, 21]


def test_fire_weekday_with_day_start():
    """Saturday 00:00 belongs to Friday; Monday 00:00 belongs to Sunday."""
    plan = SchedulePlan(DAILY, "UTC", calendar(day_start="02:00"))
    assert days(plan.fires(FROM_WEDNESDAY, 5)) == [15, 16, 17, 18, 21]


def test_add_holiday():
    plan = SchedulePlan(DAILY, "UTC", calendar(holidays=["2015-07-20"]))
    assert days(plan.fires(FROM_WEDNESDAY, 5)) == [15, 16, 17, 21, 22]


def test_never_fire():
    plan = SchedulePlan(DAILY, "UTC", calendar(weekly=(True,) * 7))
    with pytest.raises(ValidationError, match="excludes every day of the week"):
        plan.check_fires(FROM_WEDNESDAY)
    assert plan.next_fire(FROM_WEDNESDAY) is None and plan.fires(FROM_WEDNESDAY, 3) == []
    substituted = SchedulePlan(DAILY, "UTC", calendar(weekly=(True,) * 7), substitution=True)
    assert substituted.fires(FROM_WEDNESDAY, 3) == []
    assert [fire.excluded for fire in substituted.preview(FROM_WEDNESDAY, 3)] == ["calendar"] * 3


def test_the_calendar_is_read_in_the_schedules_zone():
    """Saturday 00:00 in Tokyo is Friday 15:00 UTC, and it is a Saturday: excluded."""
    plan = SchedulePlan(DAILY, "Asia/Tokyo", calendar())
    fires = plan.fires(local("2015-07-16T12:00", "Asia/Tokyo"), 3)
    assert [fire.local.isoformat() for fire in fires] == [
        "2015-07-17T00:00:00+09:00", "2015-07-20T00:00:00+09:00", "2015-07-21T00:00:00+09:00"]
    assert fires[0].slot == datetime(2015, 7, 16, 15, tzinfo=UTC)


def test_preview_lists_the_excluded_slots():
    plan = SchedulePlan(DAILY, "UTC", calendar())
    assert stamps(plan.preview(FROM_WEDNESDAY, 7)) == [
        "07-15 00:00", "07-16 00:00", "07-17 00:00", "07-18 00:00 calendar",
        "07-19 00:00 calendar", "07-20 00:00", "07-21 00:00"]


# -- substitution (CronAlternativeTrigger) -----------------------------------------------------
def test_a_holiday_monday_moves_to_tuesday():
    plan = SchedulePlan("0 0 10 ? * MON", "UTC", calendar(holidays=["2015-07-20"]), True)
    fires = plan.fires(FROM_WEDNESDAY, 3)
    assert stamps(fires) == ["07-21 10:00 <- 07-20 10:00", "07-27 10:00", "08-03 10:00"]
    assert fires[0].moved_from == datetime(2015, 7, 20, 10, tzinfo=UTC)
    assert fires[0].wall == datetime(2015, 7, 21, 10)
    without = SchedulePlan("0 0 10 ? * MON", "UTC", calendar(holidays=["2015-07-20"]))
    assert stamps(without.fires(FROM_WEDNESDAY, 2)) == ["07-27 10:00", "08-03 10:00"]


def test_the_first_of_the_month_on_a_weekend_moves_to_monday():
    plan = SchedulePlan("0 0 9 1 * ?", "Europe/Berlin", calendar(), substitution=True)
    fires = plan.fires(local("2025-10-15T00:00", "Europe/Berlin"), 5)
    assert [fire.local.strftime("%Y-%m-%d %H:%M") for fire in fires] == [
        "2025-11-03 09:00", "2025-12-01 09:00", "2026-01-01 09:00", "2026-02-02 09:00",
        "2026-03-02 09:00"]
    assert [fire.moved_from is not None for fire in fires] == [True, False, False, True, True]


def test_a_daily_schedule_does_not_fire_twice_on_monday():
    """Saturday's and Sunday's substitutes would be Monday 00:00, the regular Monday fire."""
    plan = SchedulePlan(DAILY, "UTC", calendar(), substitution=True)
    assert days(plan.fires(FROM_WEDNESDAY, 5)) == [15, 16, 17, 20, 21]
    assert stamps(plan.preview(FROM_WEDNESDAY, 6))[3:] == [
        "07-18 00:00 calendar", "07-19 00:00 calendar", "07-20 00:00"]


def test_dropped_when_the_next_regular_fire_comes_first_or_at_the_same_instant():
    """Monday 09:00 -> Tuesday 09:00: the regular Tuesday 09:00 (same instant); Monday 10:00 ->
    Tuesday 10:00: the regular Tuesday 09:00 comes first."""
    plan = SchedulePlan("0 0 9,10 ? * MON,TUE", "UTC", calendar(holidays=["2015-07-20"]), True)
    after = local("2015-07-19T00:00")
    assert stamps(plan.fires(after, 3)) == ["07-21 09:00", "07-21 10:00", "07-27 09:00"]
    assert stamps(plan.preview(after, 4)) == [
        "07-20 09:00 calendar", "07-20 10:00 calendar", "07-21 09:00", "07-21 10:00"]


def test_moved_when_the_next_regular_fire_is_later():
    plan = SchedulePlan("0 0 10 ? * MON,THU", "UTC", calendar(holidays=["2015-07-20"]), True)
    assert stamps(plan.fires(FROM_WEDNESDAY, 4)) == [
        "07-16 10:00", "07-21 10:00 <- 07-20 10:00", "07-23 10:00", "07-27 10:00"]


def test_moved_to_the_next_business_day_by_day_start():
    """01:00 on Monday belongs to Sunday (day-start 02:00): Sunday 01:00 cannot move to Monday
    01:00 (still Sunday's business day), it moves to Tuesday 01:00 (Monday's)."""
    plan = SchedulePlan("0 0 1 ? * SUN,WED", "UTC", calendar(day_start="02:00"), True)
    assert stamps(plan.fires(local("2015-07-16T00:00"), 3)) == [
        "07-21 01:00 <- 07-19 01:00", "07-22 01:00", "07-28 01:00 <- 07-26 01:00"]


def test_the_chain_passes_over_slots_before_the_substitute():
    """As in Quartz, after Saturday 08:00 moved to Monday 08:00 the next regular fire is the one
    after Monday 08:00: Saturday 10:00 and Sunday's fires are passed over (and listed)."""
    plan = SchedulePlan("0 0 8,10 ? * SAT,SUN", "UTC", calendar(), substitution=True)
    assert stamps(plan.preview(local("2015-07-17T00:00"), 6)) == [
        "07-18 10:00 calendar", "07-19 08:00 calendar", "07-19 10:00 calendar",
        "07-20 08:00 <- 07-18 08:00", "07-25 10:00 calendar", "07-26 08:00 calendar"]


def test_substitution_across_a_dst_change():
    """Saturday 2025-03-29 02:30 moves to Monday 02:30 (Sunday's 02:30 does not exist)."""
    plan = SchedulePlan("0 30 2 ? * SAT", "Europe/Berlin", calendar(), substitution=True)
    fire = plan.next_fire(local("2025-03-28T12:00", "Europe/Berlin"))
    assert fire.local.isoformat() == "2025-03-31T02:30:00+02:00"
    assert fire.moved_from == datetime(2025, 3, 29, 1, 30, tzinfo=UTC) and fire.dst is None


PLANS = [
    ("0 0 8,10 ? * SAT,SUN", calendar(), True),
    ("0 0 9,10 ? * MON,TUE", calendar(holidays=["2015-07-20", "2015-07-28"]), True),
    ("0 0 1 ? * SUN,WED", calendar(day_start="02:00"), True),
    ("0 0 */5 * * ?", calendar(day_start="02:00", holidays=["2015-07-22"]), True),
    ("0 0 */5 * * ?", calendar(day_start="02:00", holidays=["2015-07-22"]), False),
    ("0 30 23 ? * FRI", calendar(day_start="23:00"), True),
    # Thursdays only, and the 23rd is a holiday: 13 days without a business day
    ("0 0 8,10 ? * SAT,SUN", calendar(holidays=["2015-07-23"], weekly=ONLY_THURSDAY), True),
    ("0 0 0 * * ?", calendar(holidays=["2015-07-23"], weekly=ONLY_THURSDAY), False),
]


@pytest.mark.parametrize("expression, cal, substitution", PLANS)
def test_the_sequence_does_not_depend_on_where_it_is_computed_from(expression, cal,
                                                                    substitution):
    """Stepping entry by entry (as the scheduler does), or starting anywhere in between, gives
    the same entries: every regular slot once, as a fire, an exclusion or a move."""
    plan = SchedulePlan(expression, "Europe/Berlin", cal, substitution)
    start = local("2015-07-10T00:00", "Europe/Berlin")
    full = plan.preview(start, 40)
    assert [e.slot for e in full] == sorted({e.slot for e in full})
    stepped, moment = [], start
    for _ in range(40):
        entry = plan.preview(moment, 1)[0]
        stepped.append(entry)
        moment = entry.slot
    assert stepped == full
    moment = start
    while moment < full[-6].slot:
        assert plan.preview(moment, 4) == [e for e in full if e.slot > moment][:4]
        moment += timedelta(hours=3, minutes=17)
    fired = [e for e in full if not e.excluded]
    assert fired and plan.fires(start, len(fired)) == fired
    regular = [e.slot for e in full if e.moved_from is None] + [
        e.moved_from for e in full if e.moved_from is not None]
    assert len(regular) == len(set(regular))


def test_between_and_limits():
    plan = SchedulePlan(DAILY, "UTC", calendar())
    start, end = local("2015-07-15T00:00"), local("2015-07-21T00:00")
    assert days(plan.between(start, end)) == [16, 17, 20, 21]  # start < slot <= end
    assert days(plan.between(start, end, limit=2)) == [16, 17]
    assert plan.between(end, start) == []
    assert plan.next_fire(start, until=local("2015-07-15T12:00")) is None


# -- check_fires ------------------------------------------------------------------------------
def test_check_fires_without_a_future_fire():
    plan = SchedulePlan("0 0 0 1 1 ? 2020", "UTC")
    with pytest.raises(ValidationError) as caught:
        plan.check_fires(local("2025-06-01T12:00"))
    assert caught.value.messages == [
        "schedule/cron-notation: no fire time after 2025-06-01T12:00:00+00:00"]


def test_check_fires_when_the_calendar_excludes_every_fire():
    sundays = SchedulePlan("0 0 10 ? * SUN", "UTC", calendar())
    with pytest.raises(ValidationError) as caught:
        sundays.check_fires(FROM_WEDNESDAY)
    assert caught.value.messages == [
        "schedule: every fire in the next 5 years falls on a day the calendar excludes"]
    # with substitution the Sunday fires move to Monday (the original would never fire)
    moved = SchedulePlan("0 0 10 ? * SUN", "UTC", calendar(), substitution=True)
    moved.check_fires(FROM_WEDNESDAY)
    assert stamps(moved.fires(FROM_WEDNESDAY, 2)) == [
        "07-20 10:00 <- 07-19 10:00", "07-27 10:00 <- 07-26 10:00"]


def test_check_fires_counts_five_years_from_the_first_fire():
    christmas = [f"{year}-12-25" for year in range(2025, 2031)]
    SchedulePlan("0 0 0 25 12 ?", "UTC", calendar(holidays=christmas[:3])).check_fires(
        local("2025-01-01T00:00"))
    with pytest.raises(ValidationError, match="next 5 years"):
        SchedulePlan("0 0 0 25 12 ?", "UTC", calendar(holidays=christmas)).check_fires(
            local("2025-01-01T00:00"))
    SchedulePlan("0 0 12 1 1 ? 2041", "UTC", calendar()).check_fires(local("2025-01-01T00:00"))
    SchedulePlan("0 0 12 * * ?", "UTC").check_fires(local("2025-01-01T00:00"))


# -- the calendar itself ------------------------------------------------------------------------
def test_business_day_and_day_start():
    cal = calendar(day_start="02:00", holidays=["2015-07-20"])
    assert cal.business_day(datetime(2015, 7, 18, 1, 59)) == date(2015, 7, 17)
    assert cal.business_day(datetime(2015, 7, 18, 2, 0)) == date(2015, 7, 18)
    assert cal.business_day(local("2015-07-18T01:00", "Asia/Tokyo")) == date(2015, 7, 17)
    assert cal.is_business(datetime(2015, 7, 18, 1, 59))
    assert not cal.is_business(datetime(2015, 7, 18, 2, 0))
    assert not cal.is_business(datetime(2015, 7, 21, 1, 0))  # Monday the 20th, a holiday
    assert cal.next_business_date(date(2015, 7, 17)) == date(2015, 7, 21)
    assert cal.previous_business_date(date(2015, 7, 21)) == date(2015, 7, 17)
    assert calendar(weekly=(True,) * 7).next_business_date(date(2015, 7, 17)) is None
    thursdays = calendar(holidays=["2015-07-23", "2015-07-30"], weekly=ONLY_THURSDAY)
    assert thursdays.next_business_date(date(2015, 7, 16)) == date(2015, 8, 6)
    assert thursdays.previous_business_date(date(2015, 8, 6)) == date(2015, 7, 16)


@pytest.mark.parametrize("text, valid", [
    (None, False), ("00:00", True), ("23:59", True), ("2:00", True), ("-01:01", False),
    ("24:01", False), ("01:-01", False), ("01:60", False), ("0101", False), ("a", False),
    ("", False), ("01:01\n", False),
])
def test_hh_mm(text, valid):
    """scheduler_test.clj's hh:mm? cases."""
    assert is_hh_mm(text) is valid
    if valid:
        assert isinstance(parse_day_start(text), time)
    else:
        with pytest.raises(ValidationError) as caught:
            parse_day_start(text)
        assert caught.value.messages == ["day-start: Invalid hh:mm format"]


@pytest.mark.parametrize("text, ms", [
    (None, 0), ("", 0), ("01:01", 3_660_000), ("08:08", 29_280_000), ("24:01", 0), ("a", 0)])
def test_to_ms(text, ms):
    """scheduler_test.clj's to-ms-from-hh:mm cases."""
    assert to_ms(text) == ms


def test_from_model():
    cal = calendar(day_start="2:00", holidays=["2015-07-20"])
    assert cal.name == "cal" and cal.day_start == time(2, 0)
    assert cal.holidays == frozenset({date(2015, 7, 20)}) and cal.weekly_holidays == WEEKENDS


def test_invalid_calendars_name_every_problem():
    with pytest.raises(ValidationError) as caught:
        BusinessCalendar.from_model(Calendar(name="bad", holidays=("2015-13-01", "20150720"),
                                             weekly_holidays=(True,) * 5, day_start="24:01"))
    assert caught.value.messages == [
        "holidays: '2015-13-01' is not a date (YYYY-MM-DD)",
        "holidays: '20150720' is not a date (YYYY-MM-DD)",
        "weekly-holiday: must be 7 booleans, Sunday first",
        "day-start: Invalid hh:mm format"]
    with pytest.raises(ValidationError, match="weekly-holiday"):
        BusinessCalendar.build(weekly_holidays=(1, 0, 0, 0, 0, 0, 1))
