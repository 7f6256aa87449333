"""Calendars, schedules and the fire-slot ledger.

The ledger has one row per (app, job, slot), unique: a slot is fired by the one bus process whose
``INSERT ... ON CONFLICT (app, job, slot) DO NOTHING RETURNING id`` gets its row back, and a
slot recorded as missed can never fire afterwards (nor a fired one be recorded as missed).

Ledger rows are written only for a job that exists: the insert selects its values from the job's
row (locked ``FOR SHARE`` on PostgreSQL, as ``lock_job`` does), so a slot claimed while the job is
deleted is either deleted with it or not written at all. ``delete_job`` deletes the job's schedule
and its ledger rows; ``delete_schedule`` keeps the ledger (it is the job's history).
"""
from __future__ import annotations

from datetime import datetime
from typing import Sequence

from peewee import EXCLUDED, fn

from jsbus.errors import CalendarNotFound, Conflict, ScheduleNotFound
from jsbus.model import Calendar, FireSlot, Schedule, SlotStatus

from .base import StoreBase, storage_errors
from .prepared import slot
from .convert import (calendar_columns, schedule_columns, to_calendar, to_fire_slot,
                      to_schedule)


class ScheduleRecords(StoreBase):
    """The calendar, schedule and ledger methods of ``PeeweeStorage``.

    ``created_at`` is kept from the row a save replaces (a new row takes the one given, else
    the clock's time); ``updated_at`` is always the clock's time of the save (or pause).
    Moving ``last_slot`` (``advance_schedule``) is the scheduler's bookkeeping and leaves
    ``updated_at`` alone.
    """

    # -- calendars ---------------------------------------------------------------------------
    @storage_errors
    def save_calendar(self, calendar: Calendar) -> tuple[Calendar, bool]:
        C = self.models.Calendar
        now = self.clock()
        columns = calendar_columns(calendar)
        with self.write_transaction():
            # Insert unless the name exists, then update: two savers of a new name never
            # both insert (the second waits for the first's row and updates it).
            inserted = (C.insert(**columns, created_at=calendar.created_at or now,
                                 updated_at=now)
                        .on_conflict(conflict_target=[C.name], action="NOTHING")
                        .returning(C.id).execute())
            created = bool(list(inserted))
            if not created:
                changes = {name: value for name, value in columns.items() if name != "name"}
                C.update(**changes, updated_at=now).where(C.name == calendar.name).execute()
        return self.get_calendar(calendar.name), created

    @storage_errors
    def get_calendar(self, name: str) -> Calendar:
        C = self.models.Calendar
        row = C.get_or_none(C.name == name)
        if row is None:
            raise CalendarNotFound(name)
        return to_calendar(row)

    @storage_errors
    def list_calendars(self) -> list[Calendar]:
        C = self.models.Calendar
        return [to_calendar(row) for row in C.select().order_by(C.name)]

    @storage_errors
    def delete_calendar(self, name: str) -> None:
        """``CalendarNotFound`` when there is none; ``Conflict`` (naming the schedules) when a
        schedule uses it."""
        S = self.models.Schedule
        with self.write_transaction():
            # Locked first: a schedule saved meanwhile is either seen here or sees no calendar.
            self._lock_calendar(name, to_delete=True)
            users = [f"{app}/{job}" for app, job in
                     S.select(S.app, S.job).where(S.calendar == name)
                     .order_by(S.app, S.job).tuples()]
            if users:
                raise Conflict(f"calendar {name!r} is used by the schedules of "
                               + ", ".join(users))
            C = self.models.Calendar
            C.delete().where(C.name == name).execute()

    def _lock_calendar(self, name: str, *, to_delete: bool = False) -> None:
        """Inside a write transaction: the calendar must exist; its row is locked on
        PostgreSQL (see ``lock_job``)."""
        C = self.models.Calendar
        query = C.select(C.id).where(C.name == name)
        if not self.sqlite:
            query = query.for_update("FOR UPDATE" if to_delete else "FOR SHARE")
        if query.first() is None:
            raise CalendarNotFound(name)

    # -- schedules ---------------------------------------------------------------------------
    @storage_errors
    def save_schedule(self, schedule: Schedule) -> Schedule:
        S = self.models.Schedule
        now = self.clock()
        columns = schedule_columns(schedule)
        replaced = {getattr(S, name): getattr(EXCLUDED, name)
                    for name in columns if name not in ("app", "job")}
        replaced[S.last_slot] = fn.COALESCE(EXCLUDED.last_slot, S.last_slot)
        replaced[S.updated_at] = EXCLUDED.updated_at
        with self.write_transaction():
            self.lock_job(schedule.app, schedule.job)
            if schedule.calendar is not None:
                self._lock_calendar(schedule.calendar)
            (S.insert(**columns, created_at=schedule.created_at or now, updated_at=now)
             .on_conflict(conflict_target=[S.app, S.job], update=replaced)
             .execute())
        return self.get_schedule(schedule.app, schedule.job)

    @storage_errors
    def get_schedule(self, app: str, job: str) -> Schedule:
        S = self.models.Schedule
        row = self.prepared.first("schedule", lambda: S.select().where(
            (S.app == slot("app")) & (S.job == slot("job"))).limit(1), app=app, job=job)
        if row is None:
            self._missing_schedule(app, job)
        return to_schedule(row)

    @storage_errors
    def schedules_of(self, app: str, names: Sequence[str]) -> dict[str, Schedule]:
        S = self.models.Schedule
        found = {}
        for start in range(0, len(names), 100):
            part = list(names[start:start + 100])
            keys = [f"j{n}" for n in range(len(part))]
            rows = self.prepared.rows(f"schedules-of:{len(part)}", lambda: S.select().where(
                (S.app == slot("app")) & S.job.in_([slot(key) for key in keys])),
                app=app, **dict(zip(keys, part)))
            found.update((row.job, to_schedule(row)) for row in rows)
        return found

    @storage_errors
    def schedules_fingerprint(self) -> tuple:
        """(how many, the latest ``updated_at``): one pass over the table, no rows built."""
        S = self.models.Schedule
        return self.prepared.tuple("schedules-fingerprint", lambda: S.select(
            fn.COUNT(S.id), fn.MAX(S.updated_at)))

    @storage_errors
    def list_schedules(self, calendar: str | None = None) -> list[Schedule]:
        S = self.models.Schedule
        query = S.select()
        if calendar is not None:
            query = query.where(S.calendar == calendar)
        return [to_schedule(row) for row in query.order_by(S.app, S.job)]

    @storage_errors
    def delete_schedule(self, app: str, job: str) -> None:
        S = self.models.Schedule
        if not S.delete().where((S.app == app) & (S.job == job)).execute():
            self._missing_schedule(app, job)

    @storage_errors
    def set_schedule_paused(self, app: str, job: str, paused: bool) -> Schedule:
        S = self.models.Schedule
        rows = list(S.update(paused=bool(paused), updated_at=self.clock())
                    .where((S.app == app) & (S.job == job)).returning(S).execute())
        if not rows:
            self._missing_schedule(app, job)
        return to_schedule(rows[0])

    @storage_errors
    def advance_schedule(self, app: str, job: str, slot: datetime) -> None:
        """One guarded UPDATE. A schedule deleted meanwhile is no error: nothing moves."""
        self.statements.advance_schedule(app, job, slot)

    def _missing_schedule(self, app: str, job: str):
        """Raise ``JobNotFound`` (or ``ApplicationNotFound``) when the job is missing too,
        else ``ScheduleNotFound``."""
        self.require_job(app, job)
        raise ScheduleNotFound(f"{app}/{job}")

    # -- the fire-slot ledger ----------------------------------------------------------------
    @storage_errors
    def claim_slot(self, app: str, job: str, slot: datetime, now: datetime) -> bool:
        """False too when the job does not exist (nothing is written then)."""
        return self._insert_slot(app, job, slot, SlotStatus.FIRED, recorded_at=now)

    @storage_errors
    def record_slot(self, slot: FireSlot) -> bool:
        """The row is written with the status given (``missed`` as a rule); False when the
        slot has a row already or the job does not exist."""
        return self._insert_slot(slot.app, slot.job, slot.slot, slot.status,
                                 reason=slot.reason, execution_id=slot.execution_id,
                                 recorded_at=slot.recorded_at or self.clock())

    def _insert_slot(self, app: str, job: str, slot: datetime, status: SlotStatus, *,
                     recorded_at: datetime, reason: str | None = None,
                     execution_id: int | None = None) -> bool:
        """One statement: ``INSERT INTO fire_slot (...) SELECT <values> FROM job WHERE <the
        job> ON CONFLICT (app, job, slot) DO NOTHING RETURNING id``."""
        values = {"app": app, "job": job, "slot": slot, "status": SlotStatus(status),
                  "recorded_at": recorded_at, "reason": reason, "execution_id": execution_id}
        # NULLs are left to the column default: an untyped NULL in a SELECT list reads as text
        # on PostgreSQL, which an integer column refuses.
        values = {name: value for name, value in values.items() if value is not None}
        return self.statements.insert_slot(values, None if self.sqlite else "FOR SHARE")

    @storage_errors
    def set_slot_outcome(self, app: str, job: str, slot: datetime, *,
                         status: SlotStatus | None = None, reason: str | None = None,
                         execution_id: int | None = None) -> None:
        """Fields left None are kept. A slot without a row (its job was deleted meanwhile) is
        no error: nothing is written."""
        changes = {name: value for name, value in (("status", status), ("reason", reason),
                                                   ("execution_id", execution_id))
                   if value is not None}
        if changes:
            self.statements.update(self.models.FireSlot, changes,
                                   {"app": app, "job": job, "slot": slot})

    @storage_errors
    def list_slots(self, app: str, job: str, offset: int = 0,
                   limit: int = 20) -> tuple[list[FireSlot], int]:
        F = self.models.FireSlot
        self.require_job(app, job)
        of_job = (F.app == app) & (F.job == job)
        rows = F.select().where(of_job).order_by(F.slot.desc()).offset(offset).limit(limit)
        total = F.select().where(of_job).count()
        return [to_fire_slot(row) for row in rows], total
