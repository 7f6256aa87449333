"""The peewee models, built once per database so that several storages share one process.

Models are classes bound to a database; binding one global set would make two storages on two
files (which tests build by the dozen) write into each other's database. ``build_models``
returns a fresh set bound to the given database instead. The schema itself is created by the
migrations (``migrations/``), which keep their own frozen copy of these tables.
"""
from __future__ import annotations

from dataclasses import dataclass

from peewee import (AutoField, BigIntegerField, BooleanField, CharField, Database,
                    ForeignKeyField, IntegerField, Model, TextField)
from playhouse.fields import EnumField

from jsbus.model import (AgentStatus, BatchStatus, DeadlineState, DeliveryState, MisfirePolicy,
                         OverlapPolicy, SlotStatus)

from .fields import JSONField, UTCDateTimeField


@dataclass(frozen=True)
class Models:
    """One database's set of model classes."""

    Application: type[Model]
    Job: type[Model]
    JobExecution: type[Model]
    StepExecution: type[Model]
    ExecutionLog: type[Model]
    Agent: type[Model]
    Checkpoint: type[Model]
    Calendar: type[Model]
    Schedule: type[Model]
    FireSlot: type[Model]
    AppRevision: type[Model]
    Artifact: type[Model]
    AgentStat: type[Model]
    StatusNotification: type[Model]
    ExecutionDeadline: type[Model]
    NotificationDelivery: type[Model]
    AppUser: type[Model]
    Membership: type[Model]
    AuthToken: type[Model]
    TestExecution: type[Model]
    BusIdentity: type[Model]
    AgentTrust: type[Model]
    JoinToken: type[Model]


def build_models(database: Database) -> Models:
    """Model classes bound to ``database`` (and to nothing else)."""

    bound_to = database

    class Base(Model):
        class Meta:
            database = bound_to
            legacy_table_names = False  # JobExecution -> job_execution

    class Application(Base):
        name = CharField(unique=True)
        description = TextField(default="")
        classpath = JSONField(default=list)
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()
        revision = IntegerField(default=1)
        builtins = JSONField(default=list)  # migration 0010

    class AppRevision(Base):  # unique on (app, revision): migration 0004
        app = CharField()
        revision = IntegerField()
        description = TextField(default="")
        classpath = JSONField(default=list)
        created_at = UTCDateTimeField()

    class Artifact(Base):
        sha256 = CharField(max_length=64, unique=True)
        filename = TextField()
        size = BigIntegerField()
        kind = CharField(max_length=16)
        distribution = TextField(null=True)
        version = TextField(null=True)
        created_at = UTCDateTimeField()

    class Job(Base):
        app = CharField()
        name = CharField()
        definition = JSONField()
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()
        exclusive = BooleanField(default=False)
        time_monitor = JSONField(null=True)  # migration 0006

    class JobExecution(Base):
        id = AutoField()
        app = CharField()
        job = CharField()
        batch_status = EnumField(BatchStatus, max_length=32)
        job_parameters = JSONField(default=dict)
        create_time = UTCDateTimeField()
        queued_time = UTCDateTimeField(null=True)
        start_time = UTCDateTimeField(null=True)
        end_time = UTCDateTimeField(null=True)
        exit_status = TextField(null=True)
        agent_id = CharField(null=True)
        instance_id = IntegerField(null=True)  # set in the transaction that inserts the row
        restart_position = TextField(null=True)
        restarted_from = IntegerField(null=True)
        not_before = UTCDateTimeField(null=True)
        slot = UTCDateTimeField(null=True)
        revision = IntegerField(null=True)
        attempt = IntegerField(default=1)  # 0011: fencing of moved executions

    class StepExecution(Base):
        execution = ForeignKeyField(JobExecution, index=False)
        step_name = CharField()
        batch_status = EnumField(BatchStatus, max_length=32)
        start_time = UTCDateTimeField(null=True)
        end_time = UTCDateTimeField(null=True)
        exit_status = TextField(null=True)
        metrics = JSONField(null=True)  # null (rows older than 0002) reads as {}
        persistent_user_data = JSONField(null=True)

    class ExecutionLog(Base):
        execution = ForeignKeyField(JobExecution, index=False)
        step_name = CharField(null=True)
        time = UTCDateTimeField()
        level = CharField(max_length=16)
        logger = CharField(null=True)
        message = TextField()
        exception = TextField(null=True)

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
        stats = JSONField(default=dict)
        status = EnumField(AgentStatus, max_length=16)
        last_seen = UTCDateTimeField(null=True)
        blocked = BooleanField(default=False)  # only set_agent_blocked writes it

    class Checkpoint(Base):
        instance = ForeignKeyField(JobExecution, column_name="instance_id", index=False,
                                    backref="+")
        step_name = CharField()
        partition = IntegerField(default=-1)
        reader = JSONField(null=True)
        writer = JSONField(null=True)
        persistent_user_data = JSONField(null=True)
        metrics = JSONField(default=dict)
        done = BooleanField(default=False)
        execution = ForeignKeyField(JobExecution, column_name="execution_id", null=True,
                                     backref="+")
        time = UTCDateTimeField()  # unique on (instance, step_name, partition): migration 0002

    class Calendar(Base):
        name = CharField(unique=True)
        holidays = JSONField(default=list)
        weekly_holidays = JSONField(default=lambda: [False] * 7)  # Sunday first
        day_start = TextField(default="00:00")
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()

    class Schedule(Base):  # unique on (app, job): migration 0003
        app = CharField()
        job = CharField()
        cron = TextField()
        time_zone = CharField(default="UTC")
        calendar = CharField(null=True)  # a calendar's name; no foreign key
        substitution = BooleanField(default=False)
        misfire_policy = EnumField(MisfirePolicy, max_length=32)
        overlap_policy = EnumField(OverlapPolicy, max_length=32)
        paused = BooleanField(default=False)
        last_slot = UTCDateTimeField(null=True)
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()

    class FireSlot(Base):  # unique on (app, job, slot): migration 0003
        app = CharField()
        job = CharField()
        slot = UTCDateTimeField()
        status = EnumField(SlotStatus, max_length=16)
        reason = TextField(null=True)
        execution_id = IntegerField(null=True)
        recorded_at = UTCDateTimeField()

    class AgentStat(Base):  # indexed on (agent, time): migration 0005
        agent = CharField()  # the agent's instance id; no foreign key
        time = UTCDateTimeField()
        stats = JSONField()

    class StatusNotification(Base):  # this and the next two: migration 0006
        app = CharField()
        job = CharField()
        type = TextField()
        batch_status = EnumField(BatchStatus, max_length=32, null=True)
        exit_status = TextField(null=True)
        created_at = UTCDateTimeField()

    class ExecutionDeadline(Base):
        execution_id = IntegerField(unique=True)
        app = CharField()
        job = CharField()
        due_at = UTCDateTimeField()
        monitor = JSONField()
        state = EnumField(DeadlineState, max_length=16)
        fired_at = UTCDateTimeField(null=True)

    class NotificationDelivery(Base):
        key = CharField(unique=True)
        type = TextField()
        event = CharField(max_length=16)
        app = CharField()
        job = CharField()
        execution_id = IntegerField(null=True)
        payload = JSONField()
        state = EnumField(DeliveryState, max_length=16)
        attempts = IntegerField(default=0)
        next_attempt_at = UTCDateTimeField(null=True)
        last_error = TextField(null=True)
        created_at = UTCDateTimeField()
        delivered_at = UTCDateTimeField(null=True)

    class TestExecution(Base):  # migration 0007: dry runs (jsbus.dryrun)
        app = CharField()
        job = CharField()
        document = JSONField()
        batch_status = EnumField(BatchStatus, max_length=32)
        agent_id = CharField(null=True)
        agent_name = TextField(null=True)
        exit_status = TextField(null=True)
        steps = JSONField(default=list)
        messages = JSONField(default=list)
        exception = TextField(null=True)
        created_at = UTCDateTimeField()
        deadline = UTCDateTimeField()
        start_time = UTCDateTimeField(null=True)
        end_time = UTCDateTimeField(null=True)

    class AppUser(Base):  # this and the next two: migration 0008
        user_id = CharField(unique=True)
        password_hash = TextField()
        created_at = UTCDateTimeField()
        updated_at = UTCDateTimeField()

    class Membership(Base):
        user_id = CharField()
        app = CharField()
        role = CharField(max_length=32)

    class AuthToken(Base):
        digest = CharField(max_length=64, unique=True)
        user_id = CharField()
        created_at = UTCDateTimeField()
        expires_at = UTCDateTimeField()
        max_expires_at = UTCDateTimeField()
        revoked_at = UTCDateTimeField(null=True)

    class BusIdentity(Base):  # this and the next two: migration 0009 (agent trust)
        bus_id = CharField(max_length=64)
        created_at = UTCDateTimeField()

    class AgentTrust(Base):
        instance_id = CharField(unique=True)
        state = CharField(max_length=16)
        public_key = TextField(null=True)
        secret = TextField(null=True)  # hex
        candidate_key = TextField(null=True)
        via = TextField(default="")
        updated_at = UTCDateTimeField()

    class JoinToken(Base):
        token_hash = CharField(max_length=64, unique=True)
        created_at = UTCDateTimeField()
        expires_at = UTCDateTimeField()
        single_use = BooleanField()
        used_at = UTCDateTimeField(null=True)
        note = TextField(default="")

    return Models(**{name: value for name, value in locals().items()  # every model above
                     if isinstance(value, type) and issubclass(value, Model) and value is not Base})
