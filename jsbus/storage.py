"""The storage interface. Backends (``plugins/storage_peewee`` is the built-in) implement it over
plain data: they take and return the dataclasses of ``jsbus.model`` and nothing of their own.

Rules every backend keeps:
- Every method is safe to call from many threads at once (the API's threads and the actors').
- Status changes are guarded transitions: one ``UPDATE ... WHERE id = ? AND status IN (...)``;
  the method reports whether it moved the row. Nothing moves an execution out of a final state.
- Claiming work is one atomic statement, correct with several processes on one database.
- Writes are durable when the method returns (or, inside ``batch()``, when the block ends).
"""
from __future__ import annotations

import abc
import contextlib
from datetime import datetime
from typing import Any, ContextManager, Iterable, Sequence

from jsbus.errors import ExecutionNotFound
from jsbus.model import (ACTIVE_STATUSES, AgentInfo, Application, Artifact, BatchStatus,
                         Calendar, Checkpoint, FireSlot, Job, JobDefinition, JobExecution,
                         JobStats, LogRecord, Schedule, SlotStatus, StepExecution)
from jsbus.storage_dryruns import TestExecutionStorage
from jsbus.storage_notices import NoticeStorage
from jsbus.storage_trust import AgentTrustStorage
from jsbus.storage_users import UserStorage


class LeaderLock(abc.ABC):
    """Held by at most one bus process per database: the one that schedules and dispatches."""

    @abc.abstractmethod
    def try_acquire(self) -> bool:
        """Take the lock without waiting; True if this process holds it now (re-entrant)."""

    @abc.abstractmethod
    def release(self) -> None:
        """Give the lock up (no-op when not held)."""

    @property
    @abc.abstractmethod
    def held(self) -> bool: ...

    def verify(self) -> bool:
        """Whether the lock is still held, checked where it lives (a lock whose database
        session died is lost: another process may hold it now). Called by the leader every
        ``bus.leader_retry`` seconds; False makes it stop leading."""
        return self.held


class Storage(NoticeStorage, UserStorage, TestExecutionStorage, AgentTrustStorage,
              abc.ABC):
    """Everything the bus keeps. Lookups of a missing row raise a ``NotFound`` subclass."""

    url: str = ""

    # -- lifecycle ---------------------------------------------------------------------------
    @abc.abstractmethod
    def open(self) -> None:
        """Connect and apply pending migrations. Called once per process, after any fork."""

    @abc.abstractmethod
    def close(self) -> None: ...

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise ``StorageError`` when the database cannot answer."""

    @abc.abstractmethod
    def leader_lock(self) -> LeaderLock: ...

    def batch(self, synced: bool = False) -> ContextManager[None]:
        """Group the writes of the calling thread inside the block in one transaction (all or
        nothing, one commit). The bus wraps each burst in one (the fire slots of one instant,
        an agent's batch of events); a backend without transactions may do nothing here.
        ``synced``: the commit must survive a power loss, as a checkpoint's must."""
        return contextlib.nullcontext()

    # -- applications ------------------------------------------------------------------------
    @abc.abstractmethod
    def save_application(self, app: Application) -> Application:
        """Create or replace the application of that name: a new revision (1, 2, ...)."""

    @abc.abstractmethod
    def get_application(self, name: str, revision: int | None = None) -> Application:
        """The current revision, or the given one (its classpath and description as they were
        deployed); ``ApplicationNotFound`` for an unknown name or revision."""

    @abc.abstractmethod
    def list_applications(self) -> list[Application]: ...

    @abc.abstractmethod
    def delete_application(self, name: str, cascade: bool = False) -> list[str]:
        """Delete an application and its revisions; ``Conflict`` while it has jobs, unless
        ``cascade`` (its jobs go too, with their executions). Returns the deleted jobs' names."""

    @abc.abstractmethod
    def save_artifact(self, artifact: Artifact) -> Artifact:
        """Record an uploaded file by its SHA-256 (a second upload keeps the first record)."""

    @abc.abstractmethod
    def get_artifact(self, sha256: str) -> Artifact | None: ...

    # -- jobs --------------------------------------------------------------------------------
    @abc.abstractmethod
    def save_job(self, app: str, definition: JobDefinition) -> tuple[Job, bool]:
        """Create or replace job ``definition.id`` of ``app``; returns (job, created)."""

    @abc.abstractmethod
    def get_job(self, app: str, name: str) -> Job: ...

    @abc.abstractmethod
    def list_jobs(self, app: str, offset: int = 0, limit: int = 20,
                  names: Sequence[str] = (), descending: bool = False
                  ) -> tuple[list[Job], int]:
        """Jobs by name in code point order, and how many in all; ``names``: only those
        whose name contains one of them (case-sensitive)."""

    @abc.abstractmethod
    def delete_job(self, app: str, name: str) -> None:
        """Delete the job with its executions, steps and logs."""

    @abc.abstractmethod
    def job_stats(self, app: str, name: str, known: bool = False) -> JobStats:
        """Counts and average duration (``known``: the job was just read, no look-up)."""

    # -- executions --------------------------------------------------------------------------
    @abc.abstractmethod
    def create_execution(self, app: str, job: str, parameters: dict[str, str],
                         now: datetime, restart_of: int | None = None,
                         not_before: datetime | None = None,
                         slot: datetime | None = None) -> JobExecution:
        """A new execution; the job must exist.

        A first run is ``undispatched`` and starts a new job instance (its ``instance_id`` is
        its own id). ``restart_of`` names an execution of the same job whose instance the new
        one continues: it is then ``unrestarted`` with that execution's ``instance_id``.
        ``not_before`` and ``slot`` are stored for scheduled executions.
        """

    @abc.abstractmethod
    def get_execution(self, execution_id: int, with_steps: bool = True) -> JobExecution: ...

    @abc.abstractmethod
    def list_executions(self, app: str, job: str, offset: int = 0, limit: int = 20,
                        statuses: Iterable[BatchStatus] | None = None) -> tuple[list, int]:
        """Newest first (by id), and the total count; only those in ``statuses`` if given."""

    @abc.abstractmethod
    def latest_execution(self, app: str, job: str) -> JobExecution | None: ...

    @abc.abstractmethod
    def claim_execution(self, agent_id: str, now: datetime) -> JobExecution | None:
        """Atomically move the oldest waiting execution to ``queued`` for ``agent_id``."""

    def claim_executions(self, agent_id: str, now: datetime,
                         limit: int) -> list[JobExecution]:
        """Up to ``limit`` waiting executions moved to ``queued`` for ``agent_id``, oldest
        first, each as ``claim_execution`` would (a backend may do it in one statement)."""
        claimed = []
        while len(claimed) < limit:
            execution = self.claim_execution(agent_id, now)
            if execution is None:
                break
            claimed.append(execution)
        return claimed

    @abc.abstractmethod
    def transition_execution(self, execution_id: int, to: BatchStatus, *,
                             start_time: datetime | None = None,
                             end_time: datetime | None = None,
                             exit_status: str | None = None,
                             agent_id: str | None = None,
                             restart_position: str | None = None,
                             via: BatchStatus | None = None) -> JobExecution | None:
        """Guarded move to ``to`` from ``model.EXECUTION_TRANSITIONS[to]`` (``via``: several
        legal moves at once, guarded as the first, to ``via``).

        Returns the execution after the move, or None when it was not in a status that may
        move there (nothing is written then). Fields left None are kept; ``agent_id`` None on a
        move to ``undispatched`` clears the agent.
        """

    @abc.abstractmethod
    def executions_in(self, statuses: Iterable[BatchStatus],
                      agent_id: str | None = None) -> list[JobExecution]:
        """Executions in any of ``statuses`` (optionally of one agent), oldest first."""

    def get_executions(self, execution_ids: Iterable[int]) -> dict[int, JobExecution]:
        """The executions of ``execution_ids`` that exist, by id, without their steps."""
        found = {}
        for execution_id in set(execution_ids):
            try:
                found[execution_id] = self.get_execution(execution_id, with_steps=False)
            except ExecutionNotFound:
                pass
        return found

    def active_counts(self) -> dict[str, int]:
        """How many executions are queued, starting, started or stopping, by agent id."""
        counts: dict[str, int] = {}
        for execution in self.executions_in(ACTIVE_STATUSES):
            if execution.agent_id:
                counts[execution.agent_id] = counts.get(execution.agent_id, 0) + 1
        return counts

    @abc.abstractmethod
    def purge_executions(self, app: str, job: str) -> tuple[int, int]:
        """Delete the history of a job: the executions of every job instance that has ended,
        with their steps, checkpoints and logs; instances with an execution still active or
        waiting are kept whole. Returns (deleted, kept)."""

    def latest_executions(self, app: str,
                          names: Sequence[str] | None = None) -> dict[str, JobExecution]:
        """The newest execution of each job of ``app`` (of ``names``) that has one, by name."""
        if names is None:
            names = [job.name for job in self.list_jobs(app, 0, 1_000_000)[0]]
        found = {name: self.latest_execution(app, name) for name in names}
        return {name: execution for name, execution in found.items() if execution is not None}

    @abc.abstractmethod
    def count_waiting(self) -> int:
        """How many executions wait for dispatch (undispatched or unrestarted)."""

    # -- steps and logs ----------------------------------------------------------------------
    @abc.abstractmethod
    def start_step(self, execution_id: int, step_name: str, start_time: datetime) -> StepExecution:
        """Record a step that started (``started``); idempotent on (execution, step name):
        a second call returns the step already recorded."""

    @abc.abstractmethod
    def end_step(self, execution_id: int, step_name: str, status: BatchStatus,
                 end_time: datetime, exit_status: str | None,
                 metrics: dict[str, int] | None = None,
                 persistent_user_data: object = None) -> StepExecution | None:
        """Guarded move of that step to a final status; None when it was not running.
        ``metrics`` and ``persistent_user_data`` (any JSON value) are stored when given."""

    @abc.abstractmethod
    def instance_steps(self, instance_id: int) -> list[StepExecution]:
        """Every step execution of every execution of a job instance, oldest first."""

    @abc.abstractmethod
    def latest_instance_execution(self, instance_id: int) -> JobExecution:
        """The newest execution of a job instance (no steps)."""

    @abc.abstractmethod
    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Create or replace the checkpoint of (instance, step, partition); durable on return."""

    @abc.abstractmethod
    def list_checkpoints(self, instance_id: int) -> list[Checkpoint]:
        """The instance's checkpoints, by step name then partition."""

    @abc.abstractmethod
    def append_logs(self, records: Sequence[LogRecord]) -> None: ...

    @abc.abstractmethod
    def list_logs(self, execution_id: int, offset: int = 0, limit: int = 1000,
                  step_name: str | None = None) -> list[LogRecord]:
        """In the order they were appended; only one step's when ``step_name`` is given."""

    @abc.abstractmethod
    def count_logs(self, execution_id: int, step_name: str | None = None) -> int: ...

    # -- agents ------------------------------------------------------------------------------
    @abc.abstractmethod
    def save_agent(self, agent: AgentInfo) -> AgentInfo:
        """Create or update the agent of that instance id (all fields as given but
        ``blocked``, which only ``set_agent_blocked`` changes: a new agent is not blocked)."""

    @abc.abstractmethod
    def get_agent(self, instance_id: str) -> AgentInfo: ...

    @abc.abstractmethod
    def list_agents(self) -> list[AgentInfo]: ...

    @abc.abstractmethod
    def agent_executions(self, instance_id: str, limit: int = 20) -> list[JobExecution]:
        """The agent's most recent executions, newest first (no steps)."""

    @abc.abstractmethod
    def set_agent_blocked(self, instance_id: str, blocked: bool) -> AgentInfo:
        """Block (the bus dispatches nothing new to it) or unblock the agent; idempotent.
        ``AgentNotFound`` for an unknown agent."""

    @abc.abstractmethod
    def record_agent_sample(self, instance_id: str, time: datetime, values: dict[str, Any], *,
                            max_samples: int, oldest: datetime, spacing: float = 0.0) -> bool:
        """Keep ``values`` (a JSON object: the agent's stats) as its sample taken at ``time``,
        unless its newest sample is less than ``spacing`` seconds older; False when skipped.
        A sample kept forgets, in the same transaction, the agent's samples taken before
        ``oldest`` and all but its newest ``max_samples``."""

    @abc.abstractmethod
    def agent_samples(self, instance_id: str, since: datetime | None = None,
                      limit: int | None = None) -> list[tuple[datetime, dict[str, Any]]]:
        """The agent's samples as (time, values), oldest first: only those taken at or after
        ``since`` and only the newest ``limit`` when given. ``AgentNotFound`` for an unknown
        agent."""

    # -- job settings ------------------------------------------------------------------------
    @abc.abstractmethod
    def set_job_exclusive(self, app: str, name: str, exclusive: bool) -> Job: ...

    @abc.abstractmethod
    def active_executions(self, app: str, job: str) -> list[JobExecution]:
        """The job's executions that wait or run (not final), oldest first (no steps)."""

    # -- calendars ---------------------------------------------------------------------------
    @abc.abstractmethod
    def save_calendar(self, calendar: Calendar) -> tuple[Calendar, bool]:
        """Create or replace the calendar of that name; returns (calendar, created)."""

    @abc.abstractmethod
    def get_calendar(self, name: str) -> Calendar: ...

    @abc.abstractmethod
    def list_calendars(self) -> list[Calendar]:
        """By name."""

    @abc.abstractmethod
    def delete_calendar(self, name: str) -> None:
        """Raise ``Conflict`` when a schedule uses it (nothing is deleted then)."""

    # -- schedules ---------------------------------------------------------------------------
    @abc.abstractmethod
    def save_schedule(self, schedule: Schedule) -> Schedule:
        """Create or replace the schedule of (app, job); the job (and the calendar, when named)
        must exist. ``last_slot`` is kept from the schedule it replaces unless given."""

    @abc.abstractmethod
    def get_schedule(self, app: str, job: str) -> Schedule: ...

    @abc.abstractmethod
    def list_schedules(self, calendar: str | None = None) -> list[Schedule]:
        """All schedules (paused too); only those using ``calendar`` when given."""

    def schedules_of(self, app: str, names: Sequence[str]) -> dict[str, Schedule]:
        """The schedules of these jobs of ``app`` that have one, by job name."""
        found = {}
        for name in names:
            with contextlib.suppress(LookupError):
                found[name] = self.get_schedule(app, name)
        return found

    def schedules_fingerprint(self) -> Any:
        """A cheap value that moves when a schedule is added, changed or deleted (None: this
        storage cannot tell; every resync reads all)."""
        return None

    @abc.abstractmethod
    def delete_schedule(self, app: str, job: str) -> None:
        """Delete the schedule; its ledger rows stay (they are history)."""

    @abc.abstractmethod
    def set_schedule_paused(self, app: str, job: str, paused: bool) -> Schedule: ...

    @abc.abstractmethod
    def advance_schedule(self, app: str, job: str, slot: datetime) -> None:
        """Set ``last_slot`` to ``slot`` unless it is already later (never moves back)."""

    # -- the fire-slot ledger ----------------------------------------------------------------
    @abc.abstractmethod
    def claim_slot(self, app: str, job: str, slot: datetime, now: datetime) -> bool:
        """Insert the ledger row (``fired``) of this slot; False when the slot has a row already
        (another bus process fired it or recorded it). One atomic statement."""

    @abc.abstractmethod
    def record_slot(self, slot: FireSlot) -> bool:
        """Insert a ``missed`` row with its reason unless the slot has a row; True if written."""

    @abc.abstractmethod
    def set_slot_outcome(self, app: str, job: str, slot: datetime, *,
                         status: SlotStatus | None = None, reason: str | None = None,
                         execution_id: int | None = None) -> None:
        """Fill in what came of a claimed slot (its execution, or why it did not run)."""

    @abc.abstractmethod
    def list_slots(self, app: str, job: str, offset: int = 0,
                   limit: int = 20) -> tuple[list[FireSlot], int]:
        """Newest slot first, and the total count."""

    @abc.abstractmethod
    def set_application_builtins(self, name: str, builtins: tuple[str, ...]) -> Application:
        """Enable exactly ``builtins`` (the restricted built-in batchlets, ``shell`` and
        ``java-main``) for the application, kept across deploys; ``ApplicationNotFound``."""

    # -- attempts (fencing) --------------------------------------------------------------------
    @abc.abstractmethod
    def requeue_execution(self, execution_id: int, attempt: int,
                          sources: Iterable[BatchStatus]) -> JobExecution | None:
        """Guarded move back to ``undispatched`` as the next attempt: when the execution is in
        one of ``sources`` at ``attempt``, set its status ``undispatched``, its attempt
        ``attempt + 1`` and no agent, in one statement. Returns it after the move, or None when
        it was not in such a status at that attempt (nothing is written then)."""

    @abc.abstractmethod
    def executions_queued_before(self, cutoff: datetime) -> list[JobExecution]:
        """Executions ``queued`` (handed to an agent, no event yet) since before ``cutoff``,
        oldest first (no steps)."""
