"""Status notifications, time monitors and the notification deliveries.

- ``job.time_monitor``: the job's time monitor as JSON (null: none);
- ``status_notification``: what to notify on which status, several per job;
- ``execution_deadline``: a time monitor armed for one execution (one per execution);
- ``notification_delivery``: every notification queued, with its attempts and outcome; ``key``
  is unique so a notification is never queued twice.

Frozen like 0001: the tables are declared here, not taken from ``models.py``.
"""
from peewee import CharField, DateTimeField, IntegerField, TextField


def _tables(db):
    class Base(db.Model):
        class Meta:
            legacy_table_names = False

    class StatusNotification(Base):
        app = CharField()
        job = CharField()
        type = TextField()
        batch_status = CharField(max_length=32, null=True)
        exit_status = TextField(null=True)
        created_at = DateTimeField()

        class Meta:
            indexes = ((("app", "job"), False),)

    class ExecutionDeadline(Base):
        execution_id = IntegerField(unique=True)
        app = CharField()
        job = CharField()
        due_at = DateTimeField()
        monitor = TextField()
        state = CharField(max_length=16)
        fired_at = DateTimeField(null=True)

        class Meta:
            indexes = ((("state", "due_at"), False),)

    class NotificationDelivery(Base):
        key = CharField(unique=True)
        type = TextField()
        event = CharField(max_length=16)
        app = CharField()
        job = CharField()
        execution_id = IntegerField(null=True)
        payload = TextField()
        state = CharField(max_length=16)
        attempts = IntegerField(default=0)
        next_attempt_at = DateTimeField(null=True)
        last_error = TextField(null=True)
        created_at = DateTimeField()
        delivered_at = DateTimeField(null=True)

        class Meta:
            indexes = ((("state", "next_attempt_at"), False), (("app", "job"), False))

    return StatusNotification, ExecutionDeadline, NotificationDelivery


def up(migrator, db):
    migrator.migrate(migrator.add_column("job", "time_monitor", TextField(null=True)))
    db.create_tables(_tables(db))


def down(migrator, db):
    db.drop_tables(_tables(db))
    migrator.migrate(migrator.drop_column("job", "time_monitor"))
