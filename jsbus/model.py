"""Plain data shared by every part of jsbus: no peewee, no falcon, no I/O here.

Times are timezone-aware UTC datetimes. Storage backends return these dataclasses; the API
renders them with the original's namespaced keys (see ``jsbus.api.render``).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from jsbus.jsl.model import Job as JobDefinition  # a job's definition is the JSL model
from jsbus.notices import (Deadline, DeadlineState, Delivery, DeliveryState, MonitorAction,
                           StatusNotification, TimeMonitor)

# Re-exported: storage and API name them from here.
__all__ = ["JobDefinition", "Deadline", "DeadlineState", "Delivery", "DeliveryState",
           "MonitorAction", "StatusNotification", "TimeMonitor"]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class BatchStatus(str, enum.Enum):
    """The original's execution statuses (``batch-status/...``)."""

    UNDISPATCHED = "undispatched"
    UNRESTARTED = "unrestarted"
    QUEUED = "queued"
    STARTING = "starting"
    STARTED = "started"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"
    COMPLETED = "completed"
    ABANDONED = "abandoned"
    UNKNOWN = "unknown"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES

    @property
    def ident(self) -> str:
        return f"batch-status/{self.value}"


FINAL_STATUSES = frozenset({BatchStatus.STOPPED, BatchStatus.FAILED, BatchStatus.COMPLETED,
                            BatchStatus.ABANDONED})
WAITING_STATUSES = frozenset({BatchStatus.UNDISPATCHED, BatchStatus.UNRESTARTED})
# Given to an agent and not ended: what counts against the agent's capacity.
ACTIVE_STATUSES = frozenset({BatchStatus.QUEUED, BatchStatus.STARTING, BatchStatus.STARTED,
                             BatchStatus.STOPPING})
RUNNING_STATUSES = frozenset({BatchStatus.QUEUED, BatchStatus.STARTING, BatchStatus.STARTED,
                              BatchStatus.STOPPING, BatchStatus.UNKNOWN})

# For each target status, the statuses an execution may be in to move there. Storage applies
# every change as ``UPDATE ... WHERE status IN (sources)``, so a late or repeated event can never
# move an execution backwards or out of a final state.
EXECUTION_TRANSITIONS: dict[BatchStatus, frozenset[BatchStatus]] = {
    BatchStatus.QUEUED: WAITING_STATUSES,
    BatchStatus.UNDISPATCHED: frozenset({BatchStatus.QUEUED}),  # a dispatch that failed to send
    BatchStatus.STARTING: frozenset({BatchStatus.QUEUED}),
    BatchStatus.STARTED: frozenset({BatchStatus.QUEUED, BatchStatus.STARTING, BatchStatus.UNKNOWN}),
    BatchStatus.STOPPING: frozenset({BatchStatus.QUEUED, BatchStatus.STARTING,
                                     BatchStatus.STARTED}),
    BatchStatus.UNKNOWN: frozenset({BatchStatus.STARTING, BatchStatus.STARTED, BatchStatus.STOPPING}),
    BatchStatus.COMPLETED: RUNNING_STATUSES,
    BatchStatus.FAILED: RUNNING_STATUSES,
    BatchStatus.STOPPED: RUNNING_STATUSES | WAITING_STATUSES,  # waiting: stopped before dispatch
    # JSR-352's abandon: any execution that is not running (the bus refuses running ones).
    BatchStatus.ABANDONED: WAITING_STATUSES | {BatchStatus.STOPPED, BatchStatus.FAILED,
                                               BatchStatus.COMPLETED},
}

STEP_TRANSITIONS: dict[BatchStatus, frozenset[BatchStatus]] = {
    BatchStatus.STARTED: frozenset({BatchStatus.STARTING}),
    BatchStatus.COMPLETED: frozenset({BatchStatus.STARTING, BatchStatus.STARTED}),
    BatchStatus.FAILED: frozenset({BatchStatus.STARTING, BatchStatus.STARTED, BatchStatus.STOPPING}),
    BatchStatus.STOPPED: frozenset({BatchStatus.STARTING, BatchStatus.STARTED, BatchStatus.STOPPING}),
}


class AgentStatus(str, enum.Enum):
    READY = "ready"  # enrolled and heartbeating within its lease: may get work
    LOST = "lost"  # enrolled, but missed its lease
    PENDING = "pending"  # not (yet) trusted: waits for approval or a join token; gets no work
    REVOKED = "revoked"  # trust withdrawn (DELETE /agent/{id}): refused, gets no work


@dataclass(frozen=True)
class Application:
    """A deployed batch application. Every deploy makes a new ``revision`` (1, 2, ...); an
    execution runs with the classpath of the revision current when it was created.

    Classpath entries are ``file://`` URLs (directories, wheels, zips, modules, jars, class
    directories) or uploaded artifacts, named ``sha256:<hex>/<file name>``."""
    name: str
    description: str = ""
    classpath: tuple[str, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    revision: int = 0
    # The restricted built-in batchlets ("shell", "java-main") an admin enabled for this
    # application (PUT /app/{name}/builtins); none by default. Not part of a revision.
    builtins: tuple[str, ...] = ()


@dataclass(frozen=True)
class Artifact:
    """An uploaded file (wheel, zip or jar), stored once by its SHA-256."""
    sha256: str
    filename: str
    size: int
    kind: str  # "wheel", "zip" or "jar"
    distribution: str | None = None  # wheel distribution or Maven artifactId
    version: str | None = None
    created_at: datetime | None = None

    @property
    def entry(self) -> str:
        """The classpath entry that names it."""
        return f"sha256:{self.sha256}/{self.filename}"


@dataclass(frozen=True)
class Job:
    app: str
    name: str
    definition: JobDefinition
    created_at: datetime | None = None
    updated_at: datetime | None = None
    exclusive: bool = False  # the original's job/exclusive?: no second active execution
    time_monitor: TimeMonitor | None = None


@dataclass(frozen=True)
class JobStats:
    total: int = 0
    success: int = 0
    failure: int = 0
    average: float = 0.0  # mean duration of completed executions, milliseconds


@dataclass(frozen=True)
class StepExecution:
    id: int
    execution_id: int
    step_name: str
    batch_status: BatchStatus
    start_time: datetime | None = None
    end_time: datetime | None = None
    exit_status: str | None = None
    metrics: dict[str, int] = field(default_factory=dict)
    persistent_user_data: Any = None


@dataclass(frozen=True)
class Checkpoint:
    """The last committed checkpoint of one step (or one partition, ``partition`` >= 0) of a
    job instance: what its reader and writer need to resume."""

    instance_id: int
    step_name: str
    partition: int = -1
    reader: Any = None
    writer: Any = None
    persistent_user_data: Any = None
    metrics: dict[str, int] = field(default_factory=dict)
    done: bool = False
    execution_id: int | None = None
    time: datetime | None = None


@dataclass(frozen=True)
class LogRecord:
    execution_id: int
    time: datetime
    level: str
    message: str
    step_name: str | None = None
    logger: str | None = None
    exception: str | None = None


@dataclass(frozen=True)
class JobExecution:
    id: int
    app: str
    job: str
    batch_status: BatchStatus
    job_parameters: dict[str, str] = field(default_factory=dict)
    create_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    exit_status: str | None = None
    agent_id: str | None = None
    agent_name: str | None = None
    steps: tuple[StepExecution, ...] = ()
    instance_id: int | None = None  # the id of the instance's first execution
    restart_position: str | None = None  # where a restart of this execution begins
    restarted_from: int | None = None  # the execution this one restarts
    not_before: datetime | None = None  # a scheduled execution starts at its slot, not earlier
    slot: datetime | None = None  # the schedule's fire slot that created it (UTC)
    revision: int | None = None  # the application revision it runs with
    # Fencing (docs/protocol.md): 1, then + 1 each time the bus moves it back to waiting after
    # its agent was lost or drained, or never got it; events of another attempt are refused.
    attempt: int = 1


@dataclass(frozen=True)
class AgentInfo:
    """What an agent says about itself in its heartbeats (the seed's ``agent/*`` fields)."""

    instance_id: str
    name: str
    host: str
    port: int
    version: str = ""
    os_name: str = ""
    os_version: str = ""
    cpu_arch: str = ""
    cpu_core: int = 0
    capacity: int = 1
    running: int = 0
    stats: dict[str, Any] = field(default_factory=dict)
    status: AgentStatus = AgentStatus.READY
    last_seen: datetime | None = None
    # Set through the API (PUT /agent/{id}/block), never by heartbeats: a blocked agent runs
    # what it has and heartbeats on, but the bus dispatches nothing new to it.
    blocked: bool = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


@dataclass(frozen=True)
class StartCommand:
    """What the bus sends an agent to start one execution (idempotent on ``execution_id``)."""

    execution_id: int
    app: str
    job: str
    document: dict[str, Any]
    parameters: dict[str, str]
    classpath: tuple[str, ...]
    restart: dict[str, Any] | None = None  # docs/protocol.md: what a restart resumes from
    not_before: str | None = None  # RFC 3339: the worker starts the job at this time, not before
    builtins: tuple[str, ...] = ()  # the restricted built-ins its application enabled
    attempt: int = 1  # the execution's attempt: its events carry it back (fencing)


class MisfirePolicy(str, enum.Enum):
    """What a schedule does with the slots it missed while no bus could fire them."""

    FIRE_ONCE_NOW = "fire-once-now"  # the latest missed slot fires now, the others are recorded
    SKIP = "skip"  # every missed slot is recorded, none fires
    FIRE_ALL = "fire-all"  # every missed slot fires (at most ``scheduler.max_catch_up``)


class OverlapPolicy(str, enum.Enum):
    """What a scheduled fire does while an execution of its job is still active."""

    ALLOW = "allow"
    SKIP = "skip"  # recorded in the ledger as skipped (overlap)
    QUEUE_ONE = "queue-one"  # at most one waiting execution; further fires are skipped


class SlotStatus(str, enum.Enum):
    FIRED = "fired"
    MISSED = "missed"  # not fired: the reason says why (bus down, paused, calendar, overlap...)


@dataclass(frozen=True)
class Calendar:
    """A business calendar: holidays, weekly holidays (Sunday first) and the time of day a
    business day starts (times before it belong to the previous day)."""

    name: str
    holidays: tuple[str, ...] = ()  # ISO dates, "2015-07-20"
    weekly_holidays: tuple[bool, ...] = (False,) * 7  # Sunday, Monday, ... Saturday
    day_start: str = "00:00"  # HH:MM
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Schedule:
    app: str
    job: str
    cron: str  # Quartz notation
    time_zone: str = "UTC"  # IANA name
    calendar: str | None = None
    substitution: bool = False
    misfire_policy: MisfirePolicy = MisfirePolicy.FIRE_ONCE_NOW
    overlap_policy: OverlapPolicy = OverlapPolicy.ALLOW
    paused: bool = False
    last_slot: datetime | None = None  # the latest slot the scheduler has dealt with (UTC)
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class FireSlot:
    """One row of the fire-slot ledger: a slot fires at most once, or says why it did not."""

    app: str
    job: str
    slot: datetime  # UTC
    status: SlotStatus
    reason: str | None = None
    execution_id: int | None = None
    recorded_at: datetime | None = None


@dataclass(frozen=True)
class TestExecution:
    """One dry run: its job document (the JSON form) and what came of it."""

    __test__ = False  # not a pytest test class

    id: int
    app: str
    job: str
    document: dict[str, Any]
    batch_status: BatchStatus
    created_at: datetime
    deadline: datetime
    agent_id: str | None = None
    agent_name: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    exit_status: str | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    exception: str | None = None


@dataclass(frozen=True)
class AgentTrust:
    """What the bus knows to trust an agent (``jsbus.agentauth``).

    ``state``: ``pending`` (a public key, no secret), ``approved`` (a secret, not yet used by
    the agent: delivered sealed to ``public_key`` in heartbeat answers), ``enrolled`` (the agent
    signed a message with it) or ``revoked`` (no secret). ``candidate_key``: another public key
    offered for an enrolled instance id (an agent that lost its secret), waiting for approval.
    ``secret`` never leaves the bus except sealed to the agent."""

    instance_id: str
    state: str
    public_key: str | None = None
    secret: bytes | None = field(default=None, repr=False)
    candidate_key: str | None = None
    via: str = ""
    updated_at: datetime | None = None


@dataclass(frozen=True)
class JoinToken:
    """A join token as stored: only the hash of the token itself."""

    id: int
    token_hash: str = field(repr=False)
    created_at: datetime
    expires_at: datetime
    single_use: bool
    used_at: datetime | None = None
    note: str = ""
