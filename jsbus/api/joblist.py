"""The job list of ``GET /{app}/jobs`` and ``GET /{app}/jobs/download``: the original's query
language, ``with`` parts, multi-key sorting and paging (``offset`` counts from 0).

``q`` is whitespace-separated tokens, OR-ed for names, AND-ed for the rest:
``since:YYYY-MM-DD`` (latest execution started on or after), ``until:YYYY-MM-DD`` (latest
execution ended before the next day), ``exit-status:X`` (substring, case-insensitive),
``batch-status:x``, any other token: the job name contains it. Unlike the original, a malformed
token is a ``400`` naming it rather than silently ignored.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Callable

from jsbus.errors import ValidationError
from jsbus.model import BatchStatus, Job, JobExecution

WITH_PARTS = ("execution", "schedule", "settings", "notation")
SORT_KEYS = ("name", "last-execution-started", "last-execution-duration",
             "last-execution-status", "next-execution-start")


@dataclass
class Query:
    names: list[str] = field(default_factory=list)
    since: datetime | None = None
    until: datetime | None = None
    exit_status: str | None = None
    batch_status: BatchStatus | None = None

    @property
    def needs_execution(self) -> bool:
        return any(v is not None for v in (self.since, self.until, self.exit_status,
                                           self.batch_status))

    def matches(self, job: Job, latest: JobExecution | None) -> bool:
        if self.names and not any(token in job.name for token in self.names):
            return False
        if not self.needs_execution:
            return True
        if latest is None:
            return False
        if self.batch_status is not None and latest.batch_status is not self.batch_status:
            return False
        if self.since is not None and (latest.start_time is None
                                       or latest.start_time < self.since):
            return False
        if self.until is not None and (latest.end_time is None
                                       or latest.end_time >= self.until):
            return False
        if self.exit_status is not None and self.exit_status not in (latest.exit_status
                                                                     or "").upper():
            return False
        return True


def _day(token: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"q: {token!r} needs a date as YYYY-MM-DD") from None


def _batch_status(token: str, value: str) -> BatchStatus:
    try:
        return BatchStatus(value.lower().removeprefix("batch-status/"))
    except ValueError:
        allowed = ", ".join(s.value for s in BatchStatus)
        raise ValidationError(f"q: {token!r}: the batch status must be one of "
                              f"{allowed}") from None


def _apply(query: Query, token: str, key: str, value: str) -> None:
    if not value:
        raise ValidationError(f"q: {token!r} needs a value after the colon")
    if key == "since":
        query.since = datetime.combine(_day(token, value), time(), timezone.utc)
    elif key == "until":
        query.until = datetime.combine(_day(token, value) + timedelta(days=1), time(),
                                       timezone.utc)
    elif key == "exit-status":
        query.exit_status = value.upper()
    else:
        query.batch_status = _batch_status(token, value)


def parse_query(text: str | None) -> Query:
    """The query of ``q``; ValidationError naming every malformed token."""
    query, messages = Query(), []
    for token in (text or "").split():
        key, colon, value = token.partition(":")
        if not colon or key not in ("since", "until", "exit-status", "batch-status"):
            query.names.append(token)
            continue
        try:
            _apply(query, token, key, value)
        except ValidationError as exc:
            messages.extend(exc.messages)
    if messages:
        raise ValidationError(messages)
    return query


def parse_with(values: list[str] | None) -> set[str]:
    parts = set(values or ["execution"])
    unknown = sorted(parts - set(WITH_PARTS))
    if unknown:
        raise ValidationError(f"with: unknown part(s) {', '.join(unknown)} (allowed: "
                              f"{', '.join(WITH_PARTS)})")
    return parts


def parse_sort(values: list[str] | None) -> list[tuple[str, bool]]:
    """``key:asc|desc`` pairs, earlier keys first; True means descending. ValidationError
    naming every bad pair."""
    order, bad = [], []
    for item in values or []:
        key, _, direction = item.partition(":")
        direction = direction or "asc"
        if key not in SORT_KEYS or direction not in ("asc", "desc"):
            bad.append(f"sort-by: {item!r} must be key:asc or key:desc with key one of "
                       f"{', '.join(SORT_KEYS)}")
        order.append((key, direction == "desc"))
    if bad:
        raise ValidationError(bad)
    return order


@dataclass
class Row:
    job: Job
    latest: JobExecution | None
    next_start: datetime | None = None
    schedule: Any = False  # its schedule (None: none) when read with the page; False: not read


def sort_rows(rows: list[Row], order: list[tuple[str, bool]]) -> list[Row]:
    """Stable sorts applied from the last key to the first; missing values sort last."""
    keys: dict[str, Callable[[Row], Any]] = {
        "name": lambda r: r.job.name,
        "last-execution-started": lambda r: r.latest and r.latest.start_time,
        "last-execution-duration": lambda r: (
            (r.latest.end_time - r.latest.start_time).total_seconds()
            if r.latest and r.latest.start_time and r.latest.end_time else None),
        "last-execution-status": lambda r: r.latest and r.latest.batch_status.value,
        "next-execution-start": lambda r: r.next_start,
    }
    rows = sorted(rows, key=lambda r: r.job.name)
    for key, descending in reversed(order):
        present = [r for r in rows if keys[key](r) is not None]
        missing = [r for r in rows if keys[key](r) is None]
        rows = sorted(present, key=keys[key], reverse=descending) + missing
    return rows
