"""Test executions (dry runs, ``jsbus.dryrun``).

- ``test_execution``: one row per dry run: the job document it ran (JSON), its status, the agent
  it ran on, its times, the steps that ran (JSON), its messages (JSON) and exception text;
  ``deadline`` is when a reader fails a row that has not ended (indexed with the status, for
  that sweep).

Frozen like 0001: the table is declared here, not taken from ``models.py``.
"""
from peewee import CharField, DateTimeField, TextField


def _tables(db):
    class Base(db.Model):
        class Meta:
            legacy_table_names = False

    class TestExecution(Base):
        app = CharField()
        job = CharField()
        document = TextField()
        batch_status = CharField(max_length=32)
        agent_id = CharField(null=True)
        agent_name = TextField(null=True)
        exit_status = TextField(null=True)
        steps = TextField()
        messages = TextField()
        exception = TextField(null=True)
        created_at = DateTimeField()
        deadline = DateTimeField()
        start_time = DateTimeField(null=True)
        end_time = DateTimeField(null=True)

        class Meta:
            indexes = ((("batch_status", "deadline"), False),)

    return (TestExecution,)


def up(migrator, db):
    db.create_tables(_tables(db))


def down(migrator, db):
    db.drop_tables(_tables(db))
