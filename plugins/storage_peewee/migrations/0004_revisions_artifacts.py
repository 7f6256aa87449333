"""Applications in revisions, and uploaded artifacts.

- ``application.revision`` (1 for the applications already there) and the ``app_revision``
  table: the classpath of every deploy, one row per (app, revision);
- ``job_execution.revision``: the revision an execution runs with (null for older executions,
  which run with the current one);
- the ``artifact`` table: one row per uploaded file, by its SHA-256.

Frozen like 0001: the tables are declared here, not taken from ``models.py``.
"""
from peewee import BigIntegerField, CharField, DateTimeField, IntegerField, TextField


def _tables(db):
    class Base(db.Model):
        class Meta:
            legacy_table_names = False

    class AppRevision(Base):
        app = CharField()
        revision = IntegerField()
        description = TextField(default="")
        classpath = TextField(default="[]")
        created_at = DateTimeField()

        class Meta:
            indexes = ((("app", "revision"), True),)

    class Artifact(Base):
        sha256 = CharField(max_length=64, unique=True)
        filename = TextField()
        size = BigIntegerField()
        kind = CharField(max_length=16)
        distribution = TextField(null=True)
        version = TextField(null=True)
        created_at = DateTimeField()

    return AppRevision, Artifact


def up(migrator, db):
    migrator.migrate(
        migrator.add_column("application", "revision", IntegerField(default=1)),
        migrator.add_column("job_execution", "revision", IntegerField(null=True)))
    db.create_tables(_tables(db))
    db.execute_sql("INSERT INTO app_revision (app, revision, description, classpath, created_at) "
                   "SELECT name, revision, description, classpath, updated_at FROM application")


def down(migrator, db):
    db.drop_tables(_tables(db))
    migrator.migrate(
        migrator.drop_column("job_execution", "revision"),
        migrator.drop_column("application", "revision"))
