"""Step executions, checkpoints and logs: what an agent's events write while a job runs."""
from __future__ import annotations

from datetime import datetime
from typing import Sequence

from peewee import IntegrityError

from jsbus.model import STEP_TRANSITIONS, BatchStatus, Checkpoint, LogRecord, StepExecution

from .base import StoreBase, storage_errors, transition_sources
from .convert import checkpoint_columns, log_columns, to_checkpoint, to_log, to_step

# Rows per INSERT when appending logs: well below SQLite's limit on bound variables.
LOG_BATCH = 500


class StepRecords(StoreBase):
    """The step, checkpoint and log methods of ``PeeweeStorage``.

    A write for a missing execution raises ``ExecutionNotFound``; so does a read of an
    instance that has no execution.
    """

    # -- steps -------------------------------------------------------------------------------
    @storage_errors
    def start_step(self, execution_id: int, step_name: str,
                   start_time: datetime) -> StepExecution:
        try:
            # A repeat keeps the first start: (execution, step_name) is unique. A missing
            # execution fails: conflict clauses never cover foreign keys.
            return to_step(self.statements.start_step(execution_id, step_name,
                                                      BatchStatus.STARTED, start_time))
        except IntegrityError:
            self.require_execution(execution_id)
            raise

    @storage_errors
    def end_step(self, execution_id: int, step_name: str, status: BatchStatus,
                 end_time: datetime, exit_status: str | None,
                 metrics: dict[str, int] | None = None,
                 persistent_user_data: object = None) -> StepExecution | None:
        """``metrics`` replace the stored ones (None keeps them); ``persistent_user_data``
        None keeps the stored value (null unless an earlier end wrote one)."""
        changes = {"batch_status": status, "end_time": end_time}
        if exit_status is not None:
            changes["exit_status"] = exit_status
        if metrics is not None:
            changes["metrics"] = dict(metrics)
        if persistent_user_data is not None:
            changes["persistent_user_data"] = persistent_user_data
        row = self.statements.end_step(execution_id, step_name,
                                       transition_sources(STEP_TRANSITIONS, status), changes)
        if row is not None:
            return to_step(row)
        self.require_execution(execution_id)
        return None

    # -- checkpoints -------------------------------------------------------------------------
    @storage_errors
    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        C = self.models.Checkpoint
        columns = checkpoint_columns(checkpoint)
        columns["time"] = checkpoint.time or self.clock()
        replaced = [C.reader, C.writer, C.persistent_user_data, C.metrics, C.done, C.execution,
                    C.time]
        try:
            # One statement, committed on its own: the agent reads on once this returns.
            with self.synced_commits():
                (C.insert(**columns)
                 .on_conflict(conflict_target=[C.instance, C.step_name, C.partition],
                              preserve=replaced)
                 .execute())
        except IntegrityError:
            self.require_execution(checkpoint.instance_id)
            if checkpoint.execution_id is not None:
                self.require_execution(checkpoint.execution_id)
            raise

    @storage_errors
    def list_checkpoints(self, instance_id: int) -> list[Checkpoint]:
        C = self.models.Checkpoint
        rows = list(C.select().where(C.instance == instance_id)
                    .order_by(C.step_name, C.partition))
        if not rows:
            self.require_instance(instance_id)
        return [to_checkpoint(row) for row in rows]

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
                self.require_execution(execution_id)
            raise

    @storage_errors
    def list_logs(self, execution_id: int, offset: int = 0, limit: int = 1000,
                  step_name: str | None = None) -> list[LogRecord]:
        L = self.models.ExecutionLog
        self.require_execution(execution_id)
        rows = (L.select().where(self._logs_of(execution_id, step_name)).order_by(L.id)
                .offset(offset).limit(limit))
        return [to_log(row) for row in rows]

    @storage_errors
    def count_logs(self, execution_id: int, step_name: str | None = None) -> int:
        L = self.models.ExecutionLog
        self.require_execution(execution_id)
        return L.select().where(self._logs_of(execution_id, step_name)).count()

    def _logs_of(self, execution_id: int, step_name: str | None):
        L = self.models.ExecutionLog
        condition = L.execution == execution_id
        if step_name is not None:
            condition &= L.step_name == step_name
        return condition
