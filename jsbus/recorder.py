"""Applies agent events to storage, in order, and says which executions changed status.

Runs on the API thread that received the events, so that they are stored before the agent gets
its acknowledgement. Every change is a guarded transition, so a repeated or late event changes
nothing and notifies nobody twice.

Fencing: an event is refused (its ``seq`` is named in the answer, and the agent drops it) when
its execution is unknown, given to another agent, at another attempt than the event's, or was
already final before the batch; the batch's other events are applied. A final ``stopped`` event
with ``"reason": "drain"`` (the agent was drained) or ``"fence"`` (it fenced itself, cut off
from the bus) is not recorded as such when the recovery policy restarts the execution: it
moves back to waiting as its next attempt instead (``jsbus.recovery``).
"""
from __future__ import annotations

import logging
from typing import Sequence

from dataclasses import dataclass, field, replace

from jsbus import recovery
from jsbus.model import (EXECUTION_TRANSITIONS, BatchStatus, Checkpoint, JobExecution,
                         LogRecord)
from jsbus.storage import Storage
from jsbus.wire import Event

log = logging.getLogger(__name__)

Transition = tuple[JobExecution, BatchStatus]
STEP_EVENTS = frozenset({"step-started", "step-ended", "checkpoint"})  # the rest: statuses


@dataclass
class Outcome:
    """What came of a batch: the status changes to notify, how many events were applied, and
    the ``seq`` of each refused one."""
    transitions: list[Transition] = field(default_factory=list)
    applied: int = 0
    refused: list[int] = field(default_factory=list)


class EventRecorder:
    def __init__(self, storage: Storage, policy: str = "auto"):
        self.storage = storage
        self.policy = policy

    def apply(self, agent_id: str, events: Sequence[Event]) -> list[Transition]:
        """Apply a batch in one transaction: all of it is stored, or none (the agent sends it
        again)."""
        return self.record(agent_id, events).transitions

    def record(self, agent_id: str, events: Sequence[Event]) -> Outcome:
        """``apply``, saying which events were refused."""
        with self.storage.batch(synced=any(event.type == "checkpoint" for event in events)):
            return self._apply(agent_id, events)

    def _apply(self, agent_id: str, events: Sequence[Event]) -> Outcome:
        owners: dict[int, JobExecution | None] = dict(
            self.storage.get_executions({event.execution_id for event in events}))
        final_before = {key for key, execution in owners.items()
                        if execution.batch_status.is_final}
        pending_logs: list[LogRecord] = []
        chains: dict[int, list[Event]] = {}  # status events held back, per execution
        outcome = Outcome()
        for event in events:
            execution = self._owned(agent_id, event, owners, final_before)
            if execution is None:
                outcome.refused.append(event.seq)
                continue
            outcome.applied += 1
            if event.type == "log":
                pending_logs.append(LogRecord(
                    execution_id=event.execution_id, time=event.time, level=event.level,
                    message=event.message, step_name=event.step, logger=event.logger,
                    exception=event.exception))
                continue
            self._flush(pending_logs)
            if event.type not in STEP_EVENTS and not self._self_stop(event):
                # An execution's row is independent of its steps' and checkpoints' rows: its
                # status events are applied together, after the batch's other events.
                chains.setdefault(event.execution_id, []).append(event)
                continue
            if event.execution_id in chains:  # a drain or fence stop: what came before first
                self._apply_chain(chains.pop(event.execution_id), owners, outcome)
            self._record(self._apply_one(event, owners[event.execution_id]), owners, outcome)
        self._flush(pending_logs)
        for chain in chains.values():
            self._apply_chain(chain, owners, outcome)
        return outcome

    @staticmethod
    def _self_stop(event: Event) -> bool:
        return event.status is BatchStatus.STOPPED and event.reason in recovery.SELF_STOPS

    @staticmethod
    def _record(change: Transition | None, owners: dict, outcome: Outcome) -> None:
        if change is not None:
            owners[change[0].id] = change[0]
            outcome.transitions.append(change)

    def _apply_chain(self, chain: list[Event], owners: dict, outcome: Outcome) -> None:
        """Status events of one execution in one statement, guarded as the first of them
        (``via``), when each leads legally to the next (``starting, started, completed``: the
        usual three of a short execution); the transitions notified are the same as one by
        one. A chain the guard refuses (a stop came first...) is applied one by one."""
        execution = owners[chain[0].execution_id]
        legal = all(a.status in EXECUTION_TRANSITIONS.get(b.status, ())
                    for a, b in zip(chain, chain[1:]))
        after = None
        if len(chain) > 1 and legal:
            last = chain[-1]
            started = next((e.time for e in chain if e.status is BatchStatus.STARTED), None)
            fields = {"start_time": started}
            if last.status.is_final:
                fields.update(end_time=last.time, exit_status=last.exit_status,
                              restart_position=last.restart_position)
            after = self.storage.transition_execution(last.execution_id, last.status,
                                                      via=chain[0].status, **fields)
        if after is None:
            for event in chain:
                self._record(self._apply_one(event, owners[event.execution_id]), owners,
                             outcome)
            return
        previous, seen_start = execution.batch_status, execution.start_time
        for event in chain:
            if event.status is BatchStatus.STARTED:
                seen_start = after.start_time
            if event is chain[-1]:
                snapshot = after
            else:
                snapshot = replace(after, batch_status=event.status, start_time=seen_start,
                                   end_time=None, exit_status=None, restart_position=None)
            outcome.transitions.append((snapshot, previous))
            previous = event.status
        owners[after.id] = after

    @staticmethod
    def _owned(agent_id: str, event: Event, owners: dict[int, JobExecution | None],
               final_before: set[int]) -> JobExecution | None:
        """The event's execution when the event is to be applied, else None (refused)."""
        execution = owners.get(event.execution_id)
        if execution is None:
            return None
        if execution.agent_id != agent_id:
            log.warning("agent %s reported on execution %s, which runs on %s: refused",
                        agent_id, event.execution_id, execution.agent_id)
            return None
        if event.attempt != execution.attempt:
            log.info("agent %s reported on attempt %s of execution %s, which is at attempt %s: "
                     "refused", agent_id, event.attempt, event.execution_id, execution.attempt)
            return None
        if event.execution_id in final_before:
            return None  # ended before this batch: nothing of it changes any more
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
        if event.status is BatchStatus.STOPPED and event.reason in recovery.SELF_STOPS:
            moved = recovery.drained(self.storage, self.policy, execution, event.reason)
            if moved is not None:
                return moved, execution.batch_status
        fields = {}
        if event.status is BatchStatus.STARTED:
            fields["start_time"] = event.time
        elif event.status.is_final:
            fields.update(end_time=event.time, exit_status=event.exit_status,
                          restart_position=event.restart_position)
        after = self.storage.transition_execution(event.execution_id, event.status, **fields)
        return (after, execution.batch_status) if after is not None else None
