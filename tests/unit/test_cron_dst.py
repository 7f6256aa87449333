"""Daylight saving time: the rules of jsbus.cron.plan, on real 2025/2026 transitions.

| rule | case                                   | fires                                          |
|------|----------------------------------------|------------------------------------------------|
| (a)  | wall time in a gap (spring forward)    | once, at the first instant after the gap       |
|      |                                        | (the transition), ``dst="gap"``; all matches   |
|      |                                        | in the gap and a real match at its end are one |
|      |                                        | fire                                           |
| (b)  | wall time in a fold (fall back)        | once, at its first occurrence (fold=0),        |
|      |                                        | ``dst="fold"``                                 |
| (c)  | expression that can match more than    | every real instant that matches: both passes   |
|      | once an hour (sub-hourly steps, lists) | through the fold; the gap as in (a)            |

Transitions used (local wall clock):
- Europe/Berlin: 2025-03-30 02:00 -> 03:00 (01:00 UTC), 2025-10-26 03:00 -> 02:00 (01:00 UTC),
  2026-03-29, 2026-10-25;
- America/New_York: 2025-03-09 02:00 -> 03:00 (07:00 UTC), 2025-11-02 02:00 -> 01:00
  (06:00 UTC), 2026-03-08, 2026-11-01;
- Australia/Lord_Howe (a 30-minute shift, +10:30 / +11:00): 2025-04-06 02:00 -> 01:30
  (15:00 UTC on the 5th), 2025-10-05 02:00 -> 02:30 (15:30 UTC on the 4th), 2026-10-04.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from jsbus.cron.plan import SchedulePlan
from jsbus.errors import ValidationError

UTC = timezone.utc
BERLIN, NEW_YORK, LORD_HOWE = "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"

# zone, expression, after (local, with offset), next fires: "local time with offset [dst]"
TABLE = [
    # Europe/Berlin, spring forward 2025-03-30: walls [02:00, 03:00) do not exist
    (BERLIN, "0 30 2 * * ?", "2025-03-29T03:00+01:00",
     ["2025-03-30T03:00+02:00 gap", "2025-03-31T02:30+02:00"]),
    (BERLIN, "0 0 2 * * ?", "2025-03-29T03:00+01:00",
     ["2025-03-30T03:00+02:00 gap", "2025-03-31T02:00+02:00"]),
    (BERLIN, "0 0 3 * * ?", "2025-03-29T12:00+01:00",
     ["2025-03-30T03:00+02:00", "2025-03-31T03:00+02:00"]),
    (BERLIN, "0 59 1 * * ?", "2025-03-29T12:00+01:00",
     ["2025-03-30T01:59+01:00", "2025-03-31T01:59+02:00"]),
    (BERLIN, "0 0 * * * ?", "2025-03-30T00:30+01:00",
     ["2025-03-30T01:00+01:00", "2025-03-30T03:00+02:00 gap", "2025-03-30T04:00+02:00"]),
    (BERLIN, "0 */30 1-3 * * ?", "2025-03-30T00:00+01:00",
     ["2025-03-30T01:00+01:00", "2025-03-30T01:30+01:00", "2025-03-30T03:00+02:00 gap",
      "2025-03-30T03:30+02:00", "2025-03-31T01:00+02:00"]),
    (BERLIN, "0 */20 2 * * ?", "2025-03-30T00:00+01:00",
     ["2025-03-30T03:00+02:00 gap", "2025-03-31T02:00+02:00", "2025-03-31T02:20+02:00"]),
    (BERLIN, "0 0,30 2,3 * * ?", "2025-03-30T00:00+01:00",
     ["2025-03-30T03:00+02:00 gap", "2025-03-30T03:30+02:00", "2025-03-31T02:00+02:00"]),
    # Europe/Berlin, fall back 2025-10-26: walls [02:00, 03:00) happen twice
    (BERLIN, "0 30 2 * * ?", "2025-10-25T03:00+02:00",
     ["2025-10-26T02:30+02:00 fold", "2025-10-27T02:30+01:00"]),
    (BERLIN, "0 0 * * * ?", "2025-10-26T00:30+02:00",
     ["2025-10-26T01:00+02:00", "2025-10-26T02:00+02:00 fold", "2025-10-26T03:00+01:00",
      "2025-10-26T04:00+01:00"]),
    (BERLIN, "0 */30 1-3 * * ?", "2025-10-26T00:00+02:00",
     ["2025-10-26T01:00+02:00", "2025-10-26T01:30+02:00", "2025-10-26T02:00+02:00 fold",
      "2025-10-26T02:30+02:00 fold", "2025-10-26T02:00+01:00 fold",
      "2025-10-26T02:30+01:00 fold", "2025-10-26T03:00+01:00", "2025-10-26T03:30+01:00",
      "2025-10-27T01:00+01:00"]),
    # Europe/Berlin 2026, a weekly schedule on the transition Sundays
    (BERLIN, "0 15 2 ? * SUN", "2026-03-28T00:00+01:00",
     ["2026-03-29T03:00+02:00 gap", "2026-04-05T02:15+02:00"]),
    (BERLIN, "0 15 2 ? * SUN", "2026-10-24T00:00+02:00",
     ["2026-10-25T02:15+02:00 fold", "2026-11-01T02:15+01:00"]),
    # America/New_York 2025: spring 03-09 [02:00, 03:00) missing, fall 11-02 [01:00, 02:00) twice
    (NEW_YORK, "0 30 2 * * ?", "2025-03-08T12:00-05:00",
     ["2025-03-09T03:00-04:00 gap", "2025-03-10T02:30-04:00"]),
    (NEW_YORK, "0 */15 2 * * ?", "2025-03-09T00:00-05:00",
     ["2025-03-09T03:00-04:00 gap", "2025-03-10T02:00-04:00", "2025-03-10T02:15-04:00"]),
    (NEW_YORK, "0 30 1 * * ?", "2025-11-01T12:00-04:00",
     ["2025-11-02T01:30-04:00 fold", "2025-11-03T01:30-05:00"]),
    (NEW_YORK, "0 */30 * * * ?", "2025-11-02T00:00-04:00",
     ["2025-11-02T00:30-04:00", "2025-11-02T01:00-04:00 fold", "2025-11-02T01:30-04:00 fold",
      "2025-11-02T01:00-05:00 fold", "2025-11-02T01:30-05:00 fold", "2025-11-02T02:00-05:00",
      "2025-11-02T02:30-05:00"]),
    (NEW_YORK, "*/20 59 1 * * ?", "2025-11-02T01:30-04:00",
     ["2025-11-02T01:59:00-04:00 fold", "2025-11-02T01:59:20-04:00 fold",
      "2025-11-02T01:59:40-04:00 fold", "2025-11-02T01:59:00-05:00 fold",
      "2025-11-02T01:59:20-05:00 fold", "2025-11-02T01:59:40-05:00 fold",
      "2025-11-03T01:59:00-05:00"]),
    # America/New_York 2026
    (NEW_YORK, "0 0 2 ? * SUN", "2026-03-07T00:00-05:00",
     ["2026-03-08T03:00-04:00 gap", "2026-03-15T02:00-04:00"]),
    (NEW_YORK, "0 0 1 ? * SUN", "2026-10-31T00:00-04:00",
     ["2026-11-01T01:00-04:00 fold", "2026-11-08T01:00-05:00"]),
    # Australia/Lord_Howe: fall back 2025-04-06 [01:30, 02:00) twice; spring 2025-10-05
    # [02:00, 02:30) missing
    (LORD_HOWE, "0 45 1 * * ?", "2025-04-05T12:00+11:00",
     ["2025-04-06T01:45+11:00 fold", "2025-04-07T01:45+10:30"]),
    (LORD_HOWE, "0 30 * * * ?", "2025-04-06T00:00+11:00",
     ["2025-04-06T00:30+11:00", "2025-04-06T01:30+11:00 fold", "2025-04-06T02:30+10:30"]),
    (LORD_HOWE, "0 0 * * * ?", "2025-04-06T00:30+11:00",
     ["2025-04-06T01:00+11:00", "2025-04-06T02:00+10:30", "2025-04-06T03:00+10:30"]),
    (LORD_HOWE, "0 */15 1-2 * * ?", "2025-04-06T00:00+11:00",
     ["2025-04-06T01:00+11:00", "2025-04-06T01:15+11:00", "2025-04-06T01:30+11:00 fold",
      "2025-04-06T01:45+11:00 fold", "2025-04-06T01:30+10:30 fold",
      "2025-04-06T01:45+10:30 fold", "2025-04-06T02:00+10:30", "2025-04-06T02:15+10:30"]),
    (LORD_HOWE, "0 15 2 * * ?", "2025-10-04T12:00+10:30",
     ["2025-10-05T02:30+11:00 gap", "2025-10-06T02:15+11:00"]),
    (LORD_HOWE, "0 */15 1-2 * * ?", "2025-10-05T00:00+10:30",
     ["2025-10-05T01:00+10:30", "2025-10-05T01:15+10:30", "2025-10-05T01:30+10:30",
      "2025-10-05T01:45+10:30", "2025-10-05T02:30+11:00 gap", "2025-10-05T02:45+11:00",
      "2025-10-06T01:00+11:00"]),
    (LORD_HOWE, "0 0 2 ? * SUN", "2026-10-01T00:00+10:30",
     ["2026-10-04T02:30+11:00 gap", "2026-10-11T02:00+11:00"]),
]


def _render(fire, seconds: bool) -> str:
    text = fire.local.isoformat(timespec="seconds" if seconds else "minutes")
    return f"{text} {fire.dst}" if fire.dst else text


@pytest.mark.parametrize("zone, expression, after, expected", TABLE,
                         ids=[f"{row[0]}:{row[1]}:{row[2]}" for row in TABLE])
def test_dst_table(zone, expression, after, expected):
    plan = SchedulePlan(expression, zone)
    fires = plan.fires(datetime.fromisoformat(after), len(expected))
    seconds = len(expected[0].split()[0]) > len("2025-01-01T00:00+00:00")
    assert [_render(fire, seconds) for fire in fires] == expected
    for fire in fires:
        assert fire.slot.tzinfo is UTC and fire.wall.tzinfo is None
        assert fire.local.astimezone(UTC) == fire.slot  # (== across zones is False in a fold)
        assert fire.local.tzinfo == ZoneInfo(zone)
        assert fire.excluded is None and fire.moved_from is None
        if fire.dst is None:
            assert fire.local.replace(tzinfo=None) == fire.wall


def test_the_instants_of_the_examples():
    """The examples of the brief, as UTC instants."""
    gap = SchedulePlan("0 30 2 * * ?", BERLIN).next_fire(datetime(2025, 3, 29, 12, tzinfo=UTC))
    assert gap.slot == datetime(2025, 3, 30, 1, 0, tzinfo=UTC)  # 03:00 CEST
    assert gap.wall == datetime(2025, 3, 30, 2, 30) and gap.dst == "gap"
    fold = SchedulePlan("0 30 2 * * ?", BERLIN).next_fire(datetime(2025, 10, 25, 12, tzinfo=UTC))
    assert fold.slot == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)  # first 02:30, CEST
    lord_howe = SchedulePlan("0 15 2 * * ?", LORD_HOWE).next_fire(
        datetime(2025, 10, 4, 12, tzinfo=UTC))
    assert lord_howe.slot == datetime(2025, 10, 4, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize("zone, days", [
    (BERLIN, ["2025-03-30", "2025-10-26", "2026-03-29", "2026-10-25"]),
    (NEW_YORK, ["2025-03-09", "2025-11-02", "2026-03-08", "2026-11-01"]),
    (LORD_HOWE, ["2025-04-06", "2025-10-05", "2026-04-05", "2026-10-04"]),
])
@pytest.mark.parametrize("expression", [
    "0 0 * * * ?", "0 30 * * * ?", "0 */30 * * * ?", "0 */15 * * * ?", "0 0,45 1-3 * * ?",
    "0 15 2 * * ?", "0 */10 2 * * ?", "30 */5 1,2 * * ?",
])
def test_transition_days_never_fire_twice_and_never_go_back(zone, days, expression):
    plan = SchedulePlan(expression, zone)
    for day in days:
        start = datetime.fromisoformat(day).replace(tzinfo=ZoneInfo(zone)) - timedelta(hours=1)
        end = start + timedelta(hours=8)  # the transition is between 01:00 and 03:00
        fires = plan.between(start, end)
        slots = [fire.slot for fire in fires]
        assert slots == sorted(set(slots))
        for fire in fires:  # every fire is a real match, or the one instant after a gap
            if fire.dst == "gap":
                assert plan.cron.matches(fire.wall) and fire.wall < fire.local.replace(tzinfo=None)
            else:
                assert plan.cron.matches(fire.local.replace(tzinfo=None))
        if plan.cron.fires_more_than_hourly:  # (c): every real matching instant, nothing else
            brute, moment = set(), start.astimezone(UTC) + timedelta(seconds=30)
            while moment <= end:
                if plan.cron.matches(moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None)):
                    brute.add(moment)
                moment += timedelta(seconds=30)
            gaps = {fire.slot for fire in fires if fire.dst == "gap"}  # at most one a day
            assert len(gaps) <= 1 and set(slots) - gaps == brute - gaps


def test_stepping_from_each_fire_gives_the_same_sequence():
    for zone, after in ((BERLIN, "2025-10-25T22:00+00:00"), (LORD_HOWE, "2025-04-05T12:00+00:00"),
                        (NEW_YORK, "2025-03-09T04:00+00:00")):
        plan = SchedulePlan("0 */30 0-4 * * ?", zone)
        fires = plan.fires(datetime.fromisoformat(after), 12)
        stepped, moment = [], datetime.fromisoformat(after)
        for _ in range(12):
            fire = plan.next_fire(moment)
            stepped.append(fire)
            moment = fire.slot
        assert stepped == fires
        for fire, following in zip(fires, fires[1:]):  # from just before each, the same
            assert plan.next_fire(fire.slot - timedelta(microseconds=1)) == fire
            assert plan.next_fire(fire.slot) == following


def test_unknown_zone_and_naive_times_are_refused():
    with pytest.raises(ValidationError, match="Mars/Olympus"):
        SchedulePlan("0 0 12 * * ?", "Mars/Olympus")
    plan = SchedulePlan("0 0 12 * * ?", ZoneInfo(BERLIN))
    with pytest.raises(ValueError, match="aware"):
        plan.next_fire(datetime(2025, 1, 1))
