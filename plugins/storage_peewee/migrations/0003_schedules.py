"""Scheduling: calendars, schedules and the fire-slot ledger; exclusive jobs; scheduled executions.

- ``job.exclusive`` (false for the jobs already there);
- ``job_execution.not_before`` and ``job_execution.slot`` (null for the executions already there);
- the ``calendar`` table: one row per name; ``holidays`` and ``weekly_holidays`` are JSON text;
- the ``schedule`` table: one row per (app, job); ``calendar`` names a calendar (no foreign key:
  ``delete_calendar`` refuses to delete one a schedule uses) and is indexed for that check;
- the ``fire_slot`` table, the ledger: one row per (app, job, slot). Its unique index, declared
  ``(app, job, slot DESC)``, is at once the guard of ``claim_slot`` (``INSERT ... ON CONFLICT
  (app, job, slot) DO NOTHING``) and the index that lists a job's slots newest first.

Frozen like 0001: the tables are declared here, not taken from ``models.py``.
"""
from peewee import BooleanField, CharField, DateTimeField, IntegerField, TextField

_WEEK_OF_WORKDAYS = "[false, false, false, false, false, false, false]"


def _tables(db):
    class Base(db.Model):
        class Meta:
            legacy_table_names = False

    class Calendar(Base):
        name = CharField(unique=True)
        holidays = TextField(default="[]")
        weekly_holidays = TextField(default=_WEEK_OF_WORKDAYS)
        day_start = TextField(default="00:00")
        created_at = DateTimeField()
        updated_at = DateTimeField()

    class Schedule(Base):
        app = CharField()
        job = CharField()
        cron = TextField()
        time_zone = CharField(default="UTC")
        calendar = CharField(null=True, index=True)
        substitution = BooleanField(default=False)
        misfire_policy = CharField(max_length=32)
        overlap_policy = CharField(max_length=32)
        paused = BooleanField(default=False)
        last_slot = DateTimeField(null=True)
        created_at = DateTimeField()
        updated_at = DateTimeField()

        class Meta:
            indexes = ((("app", "job"), True),)

    class FireSlot(Base):
        app = CharField()
        job = CharField()
        slot = DateTimeField()
        status = CharField(max_length=16)
        reason = TextField(null=True)
        execution_id = IntegerField(null=True)  # no foreign key: the ledger is history
        recorded_at = DateTimeField()

    FireSlot.add_index(FireSlot.index(FireSlot.app, FireSlot.job, FireSlot.slot.desc(),
                                      unique=True, name="fire_slot_app_job_slot"))
    return Calendar, Schedule, FireSlot


def up(migrator, db):
    migrator.migrate(
        migrator.add_column("job", "exclusive", BooleanField(default=False)),
        migrator.add_column("job_execution", "not_before", DateTimeField(null=True)),
        migrator.add_column("job_execution", "slot", DateTimeField(null=True)))
    db.create_tables(_tables(db))


def down(migrator, db):
    db.drop_tables(_tables(db))
    migrator.migrate(
        migrator.drop_column("job_execution", "slot"),
        migrator.drop_column("job_execution", "not_before"),
        migrator.drop_column("job", "exclusive"))
