"""Wall-clock times in a zone: which exist, which happen twice, and when.

A naive wall time in a zone is one of three kinds (PEP 495, as zoneinfo implements it):

- unique: it happens once;
- in a *gap* (spring forward): it never happens; the first instant after the gap is the
  transition itself (Europe/Berlin 2025-03-30 02:30 -> 03:00 CEST = 01:00 UTC);
- in a *fold* (fall back): it happens twice, first with the earlier (larger) offset
  (``fold=0``), then with the later one (``fold=1``).

Transitions are found by bisection on whole seconds between the two candidate instants of
the wall time, which are at most one offset change apart: a few zone look-ups, no scan.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jsbus.errors import ValidationError

UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1)


def resolve(zone: str | ZoneInfo, field: str = "schedule/time-zone") -> ZoneInfo:
    """A ZoneInfo from an IANA name (or itself); ValidationError for an unknown name."""
    if isinstance(zone, ZoneInfo):
        return zone
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValidationError(f"{field}: {zone!r} is not an IANA time zone") from None


def offsets(wall: datetime, zone: ZoneInfo) -> tuple[timedelta, timedelta]:
    """The offsets zoneinfo gives the naive wall time with fold=0 and fold=1."""
    return (wall.replace(tzinfo=zone, fold=0).utcoffset(),
            wall.replace(tzinfo=zone, fold=1).utcoffset())


def kind(wall: datetime, zone: ZoneInfo) -> str | None:
    """``None`` (unique), ``"gap"`` (does not exist) or ``"fold"`` (happens twice)."""
    before, after = offsets(wall, zone)
    if before == after:
        return None
    return "fold" if before > after else "gap"


def _offset_at(seconds: int, zone: ZoneInfo) -> timedelta:
    return datetime.fromtimestamp(seconds, zone).utcoffset()


def transition(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of the transition that puts ``wall`` in a gap or a fold: the first
    instant with the new offset."""
    before, after = offsets(wall, zone)
    low, high = sorted((wall - before, wall - after))
    low_s = int((low - _EPOCH).total_seconds() // 1)
    high_s = -int(-(high - _EPOCH).total_seconds() // 1)
    while high_s - low_s > 1:  # invariant: offset(low_s) == before, offset(high_s) == after
        middle = (low_s + high_s) // 2
        if _offset_at(middle, zone) == after:
            high_s = middle
        else:
            low_s = middle
    return datetime.fromtimestamp(high_s, UTC)


def fold_range(wall: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """For a wall time in a fold: the naive walls [start, end) that happen twice."""
    before, after = offsets(wall, zone)
    naive = transition(wall, zone).replace(tzinfo=None)
    return naive + after, naive + before


def first_instant(wall: datetime, zone: ZoneInfo) -> tuple[datetime, str | None]:
    """The first UTC instant at which the wall clock shows ``wall`` or, in a gap, the first
    instant after the gap; with the wall's kind."""
    before, after = offsets(wall, zone)
    if before == after or before > after:  # unique, or the first pass through a fold
        return (wall - before).replace(tzinfo=UTC), (None if before == after else "fold")
    return transition(wall, zone), "gap"


def second_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The second UTC instant of a wall time in a fold."""
    return (wall - offsets(wall, zone)[1]).replace(tzinfo=UTC)


def to_utc(moment: datetime, what: str = "after") -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime (got naive {moment.isoformat()})")
    return moment.astimezone(UTC)
