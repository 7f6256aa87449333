"""Executions and job instances: the hot path, written as guarded single statements."""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

from peewee import JOIN, fn

from jsbus.errors import Conflict, ExecutionNotFound, ValidationError
from jsbus.model import (ACTIVE_STATUSES, EXECUTION_TRANSITIONS,
                         WAITING_STATUSES, BatchStatus,
                         JobExecution, StepExecution)

from .base import StoreBase, storage_errors, transition_sources
from .prepared import slot
from .convert import to_execution, to_step


class ExecutionRecords(StoreBase):
    """The execution methods of ``PeeweeStorage``.

    Only ``get_execution`` loads steps; every other method returns executions without them.
    A guarded move of a missing execution raises ``ExecutionNotFound`` instead of returning None.

    A job instance is the first execution of a job and its restarts: each execution's
    ``instance_id`` is the id of that first execution.
    """

    # -- executions --------------------------------------------------------------------------
    @storage_errors
    def create_execution(self, app: str, job: str, parameters: dict[str, str],
                         now: datetime, restart_of: int | None = None,
                         not_before: datetime | None = None,
                         slot: datetime | None = None) -> JobExecution:
        """A restart (``restart_of``) must continue the newest execution of its instance:
        ``Conflict`` otherwise, so that two restarts of one execution never both start."""
        E = self.models.JobExecution
        row = {"app": app, "job": job, "job_parameters": dict(parameters), "create_time": now,
               "attempt": 1,
               "not_before": not_before, "slot": slot}
        row = {name: value for name, value in row.items() if value is not None}
        # Checked and inserted under one write lock, so a job deleted meanwhile leaves no orphan
        # (on PostgreSQL, lock_job holds the job's row until the commit).
        with self.write_transaction():
            self.lock_job(app, job)
            row["revision"] = self.statements.app_revision(app)  # what it will run with
            if restart_of is None:
                execution_id = self.statements.insert(
                    E, {"batch_status": BatchStatus.UNDISPATCHED, **row})
                # A new instance, named by its first execution: the id is known only now, and
                # no other transaction sees the row before this one commits.
                changes = {"instance_id": execution_id}
            else:
                execution_id = self.statements.insert(
                    E, {"batch_status": BatchStatus.UNRESTARTED, "restarted_from": restart_of,
                        "instance_id": self._instance_to_restart(app, job, restart_of), **row})
                changes = {"id": execution_id}  # a no-op that reads the row back
            # Read back (RETURNING) before the commit: a delete_job right after it cannot take
            # it away. A new execution has no agent yet.
            rows = self.statements.update(E, changes, {"id": execution_id},
                                          returning=self.statements.execution_rows_plain)
            return to_execution(rows[0])

    def _instance_to_restart(self, app: str, job: str, restart_of: int) -> int:
        """The instance of ``restart_of``, checked inside the caller's write transaction."""
        E = self.models.JobExecution
        query = E.select(E.id, E.app, E.job, E.instance_id).where(E.id == restart_of)
        if not self.sqlite:
            # Restarts of one execution queue up here; each then sees the one before it.
            # (SQLite's IMMEDIATE transaction already excludes every other writer.)
            query = query.for_update()
        previous = query.first()
        if previous is None:
            raise ExecutionNotFound(restart_of)
        if (previous.app, previous.job) != (app, job):
            raise ValidationError(f"execution {restart_of} is of job "
                                  f"{previous.app}/{previous.job}, not {app}/{job}")
        instance_id = previous.instance_id
        latest = E.select(fn.MAX(E.id)).where(E.instance_id == instance_id).scalar()
        if latest != restart_of:
            raise Conflict(f"execution {restart_of} is not the latest of its job instance: "
                           f"restart execution {latest} instead")
        return instance_id

    @storage_errors
    def get_execution(self, execution_id: int, with_steps: bool = True) -> JobExecution:
        E = self.models.JobExecution
        row = self._select_executions().where(E.id == execution_id).first()
        if row is None:
            raise ExecutionNotFound(execution_id)
        return to_execution(row, steps=self._steps(execution_id) if with_steps else ())

    @storage_errors
    def list_executions(self, app: str, job: str, offset: int = 0, limit: int = 20,
                        statuses: Iterable[BatchStatus] | None = None
                        ) -> tuple[list[JobExecution], int]:
        E = self.models.JobExecution
        self.require_job(app, job)
        of_job = (E.app == app) & (E.job == job)
        if statuses is not None:
            statuses = sorted(set(statuses))
            if not statuses:
                return [], 0
            rows = self.statements.job_executions_in(app, job, statuses, offset, limit)
            total = E.select().where(of_job & E.batch_status.in_(statuses)).count()
            return [to_execution(row) for row in rows], total
        rows = (self._select_executions().where(of_job).order_by(E.id.desc())
                .offset(offset).limit(limit))
        total = E.select().where(of_job).count()
        return [to_execution(row) for row in rows], total

    @storage_errors
    def latest_execution(self, app: str, job: str) -> JobExecution | None:
        self.require_job(app, job)
        row = self._latest_row(app, job)
        return None if row is None else to_execution(row)

    def _latest_row(self, app: str, job: str):
        """The job's newest execution row (an index seek), or None."""
        E = self.models.JobExecution
        return self.prepared.first("latest-execution", lambda: (
            self._select_executions().where((E.app == slot("app")) & (E.job == slot("job")))
            .order_by(E.id.desc()).limit(1)), app=app, job=job)  # no steps: see get_execution

    @storage_errors
    def claim_execution(self, agent_id: str, now: datetime) -> JobExecution | None:
        claimed = self.claim_executions(agent_id, now, 1)
        return claimed[0] if claimed else None

    @storage_errors
    def claim_executions(self, agent_id: str, now: datetime,
                         limit: int) -> list[JobExecution]:
        rows = self.statements.claim(sorted(WAITING_STATUSES), BatchStatus.QUEUED, agent_id,
                                     now, limit, skip_locked=not self.sqlite)
        return sorted((to_execution(row) for row in rows), key=lambda e: e.id)

    @storage_errors
    def transition_execution(self, execution_id: int, to: BatchStatus, *,
                             start_time: datetime | None = None,
                             end_time: datetime | None = None,
                             exit_status: str | None = None,
                             agent_id: str | None = None,
                             restart_position: str | None = None,
                             via: BatchStatus | None = None) -> JobExecution | None:
        sources = transition_sources(EXECUTION_TRANSITIONS, via or to)
        changes = {name: value for name, value in (
            ("start_time", start_time), ("end_time", end_time), ("exit_status", exit_status),
            ("agent_id", agent_id), ("restart_position", restart_position))
            if value is not None}
        if to is BatchStatus.UNDISPATCHED and agent_id is None:
            changes["agent_id"] = None  # back in the queue: no agent owns it any more
        row = self.statements.move_execution(execution_id, to, sources, changes)
        if row is not None:
            return to_execution(row)
        self.require_execution(execution_id)
        return None

    @storage_errors
    def executions_in(self, statuses: Iterable[BatchStatus],
                      agent_id: str | None = None) -> list[JobExecution]:
        E = self.models.JobExecution
        condition = E.batch_status.in_(list(statuses))
        if agent_id is not None:
            condition &= E.agent_id == agent_id
        rows = self._select_executions().where(condition).order_by(E.id)
        return [to_execution(row) for row in rows]

    @storage_errors
    def active_executions(self, app: str, job: str) -> list[JobExecution]:
        E = self.models.JobExecution
        rows = list(self._select_executions()
                    .where((E.app == app) & (E.job == job)  # IN: seeks on an index
                           & E.batch_status.in_([status for status in BatchStatus
                                                 if not status.is_final]))
                    .order_by(E.id))
        if not rows:
            self.require_job(app, job)
        return [to_execution(row) for row in rows]

    @storage_errors
    def get_executions(self, execution_ids: Iterable[int]) -> dict[int, JobExecution]:
        wanted = sorted(set(execution_ids))
        found = {}
        for start in range(0, len(wanted), 500):  # bounded IN lists
            rows = self.statements.executions(wanted[start:start + 500])
            found.update((row.id, to_execution(row)) for row in rows)
        return found

    @storage_errors
    def active_counts(self) -> dict[str, int]:
        E = self.models.JobExecution
        rows = (E.select(E.agent_id, fn.COUNT(E.id))
                .where(E.batch_status.in_(list(ACTIVE_STATUSES)) & E.agent_id.is_null(False))
                .group_by(E.agent_id).tuples())
        return dict(rows)

    @storage_errors
    def count_waiting(self) -> int:
        E = self.models.JobExecution
        return E.select().where(E.batch_status.in_(WAITING_STATUSES)).count()

    @storage_errors
    def requeue_execution(self, execution_id: int, attempt: int,
                          sources: Iterable[BatchStatus]) -> JobExecution | None:
        E = self.models.JobExecution
        query = (E.update({E.batch_status: BatchStatus.UNDISPATCHED, E.agent_id: None,
                           E.queued_time: None, E.attempt: attempt + 1})
                 .where((E.id == execution_id) & (E.attempt == attempt)
                        & E.batch_status.in_(list(sources)))
                 .returning(E, self._agent_name_of(E)))
        rows = list(query.execute())
        if rows:
            return to_execution(rows[0])
        self.require_execution(execution_id)
        return None

    @storage_errors
    def executions_queued_before(self, cutoff: datetime) -> list[JobExecution]:
        E = self.models.JobExecution
        rows = (self._select_executions()
                .where((E.batch_status == BatchStatus.QUEUED) & (E.queued_time < cutoff))
                .order_by(E.id))
        return [to_execution(row) for row in rows]

    # -- job instances -----------------------------------------------------------------------
    @storage_errors
    def latest_instance_execution(self, instance_id: int) -> JobExecution:
        E = self.models.JobExecution
        row = (self._select_executions().where(E.instance_id == instance_id)
               .order_by(E.id.desc()).first())
        if row is None:
            raise ExecutionNotFound(instance_id)
        return to_execution(row)

    @storage_errors
    def instance_steps(self, instance_id: int) -> list[StepExecution]:
        E, S = self.models.JobExecution, self.models.StepExecution
        rows = list(S.select().join(E, on=(S.execution == E.id))
                    .where(E.instance_id == instance_id).order_by(S.id))
        if not rows:
            self.require_instance(instance_id)
        return [to_step(row) for row in rows]

    # -- helpers -----------------------------------------------------------------------------
    def _select_executions(self):
        """Executions with the name of their agent, when the agent is known."""
        E, A = self.models.JobExecution, self.models.Agent
        return (E.select(E, A.name.alias("agent_name"))
                .join(A, JOIN.LEFT_OUTER, on=(A.instance_id == E.agent_id))
                .objects())

    def _agent_name_of(self, E):
        """The name of an execution's agent, as a column of ``UPDATE ... RETURNING``."""
        A = self.models.Agent
        return (A.select(A.name).where(A.instance_id == E.agent_id)).alias("agent_name")

    def _steps(self, execution_id: int) -> list[StepExecution]:
        S = self.models.StepExecution
        return [to_step(row) for row in
                S.select().where(S.execution == execution_id).order_by(S.id)]
