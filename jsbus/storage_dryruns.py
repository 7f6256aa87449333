"""The part of the storage interface that keeps dry runs (``jsbus.dryrun``). ``jsbus.storage.
Storage`` includes it; the rules of that module hold here too."""
from __future__ import annotations

import abc
from datetime import datetime
from typing import Any

from jsbus.model import BatchStatus, TestExecution


class TestExecutionStorage(abc.ABC):
    __test__ = False  # not a pytest test class

    @abc.abstractmethod
    def create_test_execution(self, app: str, job: str, document: dict[str, Any],
                              now: datetime, deadline: datetime) -> TestExecution:
        """A new ``TestExecution`` of ``document`` (``starting``); ids grow from
        1. The application must exist (``ApplicationNotFound``)."""

    @abc.abstractmethod
    def get_test_execution(self, test_id: int) -> TestExecution:
        """The ``TestExecution``; ``TestExecutionNotFound``
        for an unknown id."""

    @abc.abstractmethod
    def start_test_execution(self, test_id: int, agent_id: str, agent_name: str,
                             now: datetime) -> bool:
        """``starting`` -> ``started`` on that agent; False when it is not ``starting`` (or
        gone)."""

    @abc.abstractmethod
    def finish_test_execution(self, test_id: int, status: BatchStatus, now: datetime, *,
                              exit_status: str | None = None,
                              steps: list[dict[str, Any]] | None = None,
                              messages: list[str] | None = None,
                              exception: str | None = None) -> bool:
        """Move an unfinished test execution to ``status`` (final) with its outcome; False
        when it had ended already (or is gone)."""

    @abc.abstractmethod
    def expire_test_executions(self, now: datetime, message: str) -> int:
        """Fail, with ``message``, every unfinished test execution whose deadline is before
        ``now``; how many."""

    @abc.abstractmethod
    def delete_test_execution(self, test_id: int) -> None:
        """``TestExecutionNotFound`` for an unknown id."""
