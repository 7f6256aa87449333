"""Test executions (dry runs, ``jsbus.dryrun``): one row each, moved by guarded updates.

``starting`` -> ``started`` (on an agent) -> a final status; nothing moves a row out of a final
status, so the outcome a dry run's thread records and the deadline sweep of any bus process
never overwrite each other: the first to move the row wins.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from jsbus.errors import TestExecutionNotFound
from jsbus.model import FINAL_STATUSES, BatchStatus, TestExecution

from .base import StoreBase, storage_errors

UNFINISHED = (BatchStatus.STARTING, BatchStatus.STARTED)


def to_test_execution(row) -> TestExecution:
    return TestExecution(
        id=row.id, app=row.app, job=row.job, document=row.document,
        batch_status=row.batch_status, created_at=row.created_at, deadline=row.deadline,
        agent_id=row.agent_id, agent_name=row.agent_name, start_time=row.start_time,
        end_time=row.end_time, exit_status=row.exit_status, steps=list(row.steps or []),
        messages=list(row.messages or []), exception=row.exception)


class TestExecutionRecords(StoreBase):
    """The test-execution methods of ``PeeweeStorage``."""

    __test__ = False  # not a pytest test class

    @storage_errors
    def create_test_execution(self, app: str, job: str, document: dict[str, Any],
                              now: datetime, deadline: datetime) -> TestExecution:
        T = self.models.TestExecution
        with self.write_transaction():
            self.require_application(app)
            test_id = T.insert(app=app, job=job, document=document,
                               batch_status=BatchStatus.STARTING, steps=[], messages=[],
                               created_at=now, deadline=deadline).execute()
        return self.get_test_execution(test_id)

    @storage_errors
    def get_test_execution(self, test_id: int) -> TestExecution:
        T = self.models.TestExecution
        row = T.get_or_none(T.id == test_id)
        if row is None:
            raise TestExecutionNotFound(test_id)
        return to_test_execution(row)

    @storage_errors
    def start_test_execution(self, test_id: int, agent_id: str, agent_name: str,
                             now: datetime) -> bool:
        T = self.models.TestExecution
        return bool(T.update(batch_status=BatchStatus.STARTED, agent_id=agent_id,
                             agent_name=agent_name, start_time=now)
                    .where((T.id == test_id) & (T.batch_status == BatchStatus.STARTING))
                    .execute())

    @storage_errors
    def finish_test_execution(self, test_id: int, status: BatchStatus, now: datetime, *,
                              exit_status: str | None = None,
                              steps: list[dict[str, Any]] | None = None,
                              messages: list[str] | None = None,
                              exception: str | None = None) -> bool:
        if status not in FINAL_STATUSES:
            raise ValueError(f"a test execution ends in a final status, not {status.value}")
        T = self.models.TestExecution
        return bool(T.update(batch_status=status, end_time=now, exit_status=exit_status,
                             steps=list(steps or []), messages=list(messages or []),
                             exception=exception)
                    .where((T.id == test_id) & T.batch_status.in_(UNFINISHED)).execute())

    @storage_errors
    def expire_test_executions(self, now: datetime, message: str) -> int:
        T = self.models.TestExecution
        return (T.update(batch_status=BatchStatus.FAILED, end_time=now, messages=[message])
                .where(T.batch_status.in_(UNFINISHED) & (T.deadline < now)).execute())

    @storage_errors
    def delete_test_execution(self, test_id: int) -> None:
        T = self.models.TestExecution
        if not T.delete().where(T.id == test_id).execute():
            raise TestExecutionNotFound(test_id)
