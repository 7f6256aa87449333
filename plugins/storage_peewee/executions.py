"""Executions, their steps and their logs: the hot path, written as guarded single statements."""
from __future__ import annotations

from datetime import datetime
from typing import Iterable, Sequence

from peewee import JOIN, IntegrityError

from jsbus.errors import ExecutionNotFound
from jsbus.model import (EXECUTION_TRANSITIONS, STEP_TRANSITIONS, WAITING_STATUSES, BatchStatus,
                         JobExecution, LogRecord, StepExecution)

from .base import StoreBase, storage_errors
from .convert import log_columns, to_execution, to_log, to_step

# Rows per INSERT when appending logs: well below SQLite's limit on bound variables.
LOG_BATCH = 500


class ExecutionRecords(StoreBase):
    """The execution, step and log methods of ``PeeweeStorage``.

    Only ``get_execution`` loads steps; every other method returns executions without them.
    A guarded move of a missing execution raises ``ExecutionNotFound`` instead of returning None.
    """

    # -- executions --------------------------------------------------------------------------
    @storage_errors
    def create_execution(self, app: str, job: str, parameters: dict[str, str],
                         now: datetime) -> JobExecution:
        E = self.models.JobExecution
        # Checked and inserted under one write lock, so a job deleted meanwhile leaves no orphan.
        with self.write_transaction():
            self.require_job(app, job)
            execution_id = E.insert(app=app, job=job, batch_status=BatchStatus.UNDISPATCHED,
                                    job_parameters=dict(parameters), create_time=now).execute()
        return self.get_execution(execution_id, with_steps=False)

    @storage_errors
    def get_execution(self, execution_id: int, with_steps: bool = True) -> JobExecution:
        E = self.models.JobExecution
        row = self._select_executions().where(E.id == execution_id).first()
        if row is None:
            raise ExecutionNotFound(execution_id)
        return to_execution(row, steps=self._steps(execution_id) if with_steps else ())

    @storage_errors
    def list_executions(self, app: str, job: str, offset: int = 0,
                        limit: int = 20) -> tuple[list[JobExecution], int]:
        E = self.models.JobExecution
        self.require_job(app, job)
        of_job = (E.app == app) & (E.job == job)
        rows = (self._select_executions().where(of_job).order_by(E.id.desc())
                .offset(offset).limit(limit))
        total = E.select().where(of_job).count()
        return [to_execution(row) for row in rows], total

    @storage_errors
    def latest_execution(self, app: str, job: str) -> JobExecution | None:
        E = self.models.JobExecution
        self.require_job(app, job)
        row = (self._select_executions().where((E.app == app) & (E.job == job))
               .order_by(E.id.desc()).first())
        return None if row is None else to_execution(row)  # no steps: see get_execution

    @storage_errors
    def claim_execution(self, agent_id: str, now: datetime) -> JobExecution | None:
        E = self.models.JobExecution
        # Compare-and-set in one statement: the subquery picks the oldest waiting execution and
        # the outer WHERE re-checks its status, so two claimers never both get it.
        oldest = (E.select(E.id).where(E.batch_status.in_(WAITING_STATUSES))
                  .order_by(E.id).limit(1))
        if not self.sqlite:
            oldest = oldest.for_update(skip_locked=True)  # claimers skip each other's row
        query = (E.update({E.batch_status: BatchStatus.QUEUED, E.agent_id: agent_id,
                           E.queued_time: now})
                 .where((E.id == oldest) & E.batch_status.in_(WAITING_STATUSES))
                 .returning(E))
        rows = list(query.execute())
        return self._with_agent_name(rows[0]) if rows else None

    @storage_errors
    def transition_execution(self, execution_id: int, to: BatchStatus, *,
                             start_time: datetime | None = None,
                             end_time: datetime | None = None,
                             exit_status: str | None = None,
                             agent_id: str | None = None) -> JobExecution | None:
        E = self.models.JobExecution
        sources = _sources(EXECUTION_TRANSITIONS, to)
        changes = {E.batch_status: to}
        for column, value in ((E.start_time, start_time), (E.end_time, end_time),
                              (E.exit_status, exit_status), (E.agent_id, agent_id)):
            if value is not None:
                changes[column] = value
        if to is BatchStatus.UNDISPATCHED and agent_id is None:
            changes[E.agent_id] = None  # back in the queue: no agent owns it any more
        query = (E.update(changes)
                 .where((E.id == execution_id) & E.batch_status.in_(sources))
                 .returning(E))
        rows = list(query.execute())
        if rows:
            return self._with_agent_name(rows[0])
        self._require_execution(execution_id)
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
    def count_waiting(self) -> int:
        E = self.models.JobExecution
        return E.select().where(E.batch_status.in_(WAITING_STATUSES)).count()

    # -- steps -------------------------------------------------------------------------------
    @storage_errors
    def start_step(self, execution_id: int, step_name: str,
                   start_time: datetime) -> StepExecution:
        S = self.models.StepExecution
        try:
            # A repeat is ignored: (execution, step_name) is unique. A missing execution is not:
            # conflict clauses never cover foreign keys, on SQLite or PostgreSQL.
            (S.insert(execution=execution_id, step_name=step_name,
                      batch_status=BatchStatus.STARTED, start_time=start_time)
             .on_conflict_ignore().execute())
        except IntegrityError:
            self._require_execution(execution_id)
            raise
        row = S.get_or_none((S.execution == execution_id) & (S.step_name == step_name))
        if row is None:  # its job was deleted between the two statements
            raise ExecutionNotFound(execution_id)
        return to_step(row)

    @storage_errors
    def end_step(self, execution_id: int, step_name: str, status: BatchStatus,
                 end_time: datetime, exit_status: str | None) -> StepExecution | None:
        S = self.models.StepExecution
        changes = {S.batch_status: status, S.end_time: end_time}
        if exit_status is not None:
            changes[S.exit_status] = exit_status
        query = (S.update(changes)
                 .where((S.execution == execution_id) & (S.step_name == step_name)
                        & S.batch_status.in_(_sources(STEP_TRANSITIONS, status)))
                 .returning(S))
        rows = list(query.execute())
        if rows:
            return to_step(rows[0])
        self._require_execution(execution_id)
        return None

    # -- logs --------------------------------------------------------------------------------
    @storage_errors
    def append_logs(self, records: Sequence[LogRecord]) -> None:
        L = self.models.ExecutionLog
        if not records:
            return
        rows = [log_columns(record) for record in records]
        try:
            with self.db.atomic():  # inserts only, no read: a deferred BEGIN is fine
                for start in range(0, len(rows), LOG_BATCH):
                    L.insert_many(rows[start:start + LOG_BATCH]).execute()
        except IntegrityError:
            for execution_id in sorted({record.execution_id for record in records}):
                self._require_execution(execution_id)
            raise

    @storage_errors
    def list_logs(self, execution_id: int, offset: int = 0,
                  limit: int = 1000) -> list[LogRecord]:
        L = self.models.ExecutionLog
        self._require_execution(execution_id)
        rows = (L.select().where(L.execution == execution_id).order_by(L.id)
                .offset(offset).limit(limit))
        return [to_log(row) for row in rows]

    # -- helpers -----------------------------------------------------------------------------
    def _select_executions(self):
        """Executions with the name of their agent, when the agent is known."""
        E, A = self.models.JobExecution, self.models.Agent
        return (E.select(E, A.name.alias("agent_name"))
                .join(A, JOIN.LEFT_OUTER, on=(A.instance_id == E.agent_id))
                .objects())

    def _with_agent_name(self, row) -> JobExecution:
        # The row comes from UPDATE ... RETURNING (the state the update wrote); only the
        # agent's name is read afterwards.
        A = self.models.Agent
        name = None
        if row.agent_id is not None:
            name = A.select(A.name).where(A.instance_id == row.agent_id).scalar()
        return to_execution(row, agent_name=name)

    def _steps(self, execution_id: int) -> list[StepExecution]:
        S = self.models.StepExecution
        return [to_step(row) for row in
                S.select().where(S.execution == execution_id).order_by(S.id)]

    def _require_execution(self, execution_id: int) -> None:
        E = self.models.JobExecution
        if not E.select().where(E.id == execution_id).exists():
            raise ExecutionNotFound(execution_id)


def _sources(transitions: dict, to: BatchStatus) -> list[BatchStatus]:
    try:
        return sorted(transitions[to])
    except KeyError:
        raise ValueError(f"no transition leads to {to.value!r}") from None
