"""The first schema: applications, jobs, executions with their steps and logs, agents.

A frozen copy of the tables as they were at this version, deliberately independent of
``models.py``: later changes to the models go into new migration files.
"""
from peewee import (AutoField, CharField, DateTimeField, ForeignKeyField, IntegerField,
                    TextField)


def _tables(db):
    class Base(db.Model):
        class Meta:
            legacy_table_names = False

    class Application(Base):
        name = CharField(unique=True)
        description = TextField(default="")
        classpath = TextField(default="[]")
        created_at = DateTimeField()
        updated_at = DateTimeField()

    class Job(Base):
        app = CharField()
        name = CharField()
        definition = TextField()
        created_at = DateTimeField()
        updated_at = DateTimeField()

        class Meta:
            indexes = ((("app", "name"), True),)

    class JobExecution(Base):
        id = AutoField()
        app = CharField()
        job = CharField()
        batch_status = CharField(max_length=32)  # indexed by (batch_status, id) below
        job_parameters = TextField(default="{}")
        create_time = DateTimeField()
        queued_time = DateTimeField(null=True)
        start_time = DateTimeField(null=True)
        end_time = DateTimeField(null=True)
        exit_status = TextField(null=True)
        agent_id = CharField(null=True)

        class Meta:
            indexes = ((("app", "job", "id"), False),
                       (("batch_status", "id"), False),
                       (("agent_id", "id"), False))

    class StepExecution(Base):
        execution = ForeignKeyField(JobExecution, index=False)
        step_name = CharField()
        batch_status = CharField(max_length=32)
        start_time = DateTimeField(null=True)
        end_time = DateTimeField(null=True)
        exit_status = TextField(null=True)

        class Meta:
            indexes = ((("execution", "step_name"), True),)

    class ExecutionLog(Base):
        execution = ForeignKeyField(JobExecution, index=False)
        step_name = CharField(null=True)
        time = DateTimeField()
        level = CharField(max_length=16)
        logger = CharField(null=True)
        message = TextField()
        exception = TextField(null=True)

        class Meta:
            indexes = ((("execution", "id"), False),)

    class Agent(Base):
        instance_id = CharField(unique=True)
        name = CharField()
        host = CharField()
        port = IntegerField()
        version = CharField(default="")
        os_name = CharField(default="")
        os_version = CharField(default="")
        cpu_arch = CharField(default="")
        cpu_core = IntegerField(default=0)
        capacity = IntegerField(default=1)
        running = IntegerField(default=0)
        stats = TextField(default="{}")
        status = CharField(max_length=16)
        last_seen = DateTimeField(null=True)

    return [Application, Job, JobExecution, StepExecution, ExecutionLog, Agent]


def up(migrator, db):
    db.create_tables(_tables(db))


def down(migrator, db):
    db.drop_tables(_tables(db))
