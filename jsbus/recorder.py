"""Applies agent events to storage, in order, and says which executions changed status.

Runs on the API thread that received the events, so that they are stored before the agent gets
its acknowledgement. Every change is a guarded transition, so a repeated or late event changes
nothing and notifies nobody twice.
"""
from __future__ import annotations

import logging
from typing import Sequence

from jsbus.model import BatchStatus, Checkpoint, JobExecution, LogRecord
from jsbus.storage import Storage
from jsbus.wire import Event

log = logging.getLogger(__name__)

Transition = tuple[JobExecution, BatchStatus]


class EventRecorder:
    def __init__(self, storage: Storage):
        self.storage = storage

    def apply(self, agent_id: str, events: Sequence[Event]) -> list[Transition]:
        """Apply a batch in one transaction: all of it is stored, or none (the agent sends it
        again)."""
        with self.storage.batch(synced=any(event.type == "checkpoint" for event in events)):
            return self._apply(agent_id, events)

    def _apply(self, agent_id: str, events: Sequence[Event]) -> list[Transition]:
        owners: dict[int, JobExecution | None] = dict(
            self.storage.get_executions({event.execution_id for event in events}))
        pending_logs: list[LogRecord] = []
        transitions: list[Transition] = []
        for event in events:
            execution = self._owned(agent_id, event.execution_id, owners)
            if execution is None:
                continue
            if event.type == "log":
                pending_logs.append(LogRecord(
                    execution_id=event.execution_id, time=event.time, level=event.level,
                    message=event.message, step_name=event.step, logger=event.logger,
                    exception=event.exception))
                continue
            self._flush(pending_logs)
            change = self._apply_one(event, execution)
            if change is not None:
                owners[event.execution_id] = change[0]
                transitions.append(change)
        self._flush(pending_logs)
        return transitions

    @staticmethod
    def _owned(agent_id: str, execution_id: int,
               owners: dict[int, JobExecution | None]) -> JobExecution | None:
        execution = owners.get(execution_id)
        if execution is not None and execution.agent_id != agent_id:
            log.warning("agent %s reported on execution %s, which runs on %s: ignored",
                        agent_id, execution_id, execution.agent_id)
            execution = owners[execution_id] = None
        return execution

    def _flush(self, logs: list[LogRecord]) -> None:
        if logs:
            self.storage.append_logs(list(logs))
            logs.clear()

    def _apply_one(self, event: Event, execution: JobExecution) -> Transition | None:
        if event.type == "step-started":
            self.storage.start_step(event.execution_id, event.step, event.time)
            return None
        if event.type == "step-ended":
            self.storage.end_step(event.execution_id, event.step, event.status, event.time,
                                  event.exit_status, event.metrics, event.persistent_user_data)
            return None
        if event.type == "checkpoint":
            self.storage.save_checkpoint(Checkpoint(
                instance_id=execution.instance_id or execution.id, step_name=event.step,
                partition=event.partition, reader=event.reader, writer=event.writer,
                persistent_user_data=event.persistent_user_data, metrics=event.metrics or {},
                done=event.done, execution_id=execution.id, time=event.time))
            return None
        fields = {}
        if event.status is BatchStatus.STARTED:
            fields["start_time"] = event.time
        elif event.status.is_final:
            fields.update(end_time=event.time, exit_status=event.exit_status,
                          restart_position=event.restart_position)
        after = self.storage.transition_execution(event.execution_id, event.status, **fields)
        return (after, execution.batch_status) if after is not None else None
