"""Nothing lost (issue 8): what becomes of an execution whose agent was lost or drained, or
never got it.

Every move is a guarded storage statement, so two bus processes (or a late event racing the
leader) change an execution once:

- ``settle``: an execution of a lost (or revoked) agent. ``stopping`` ones become ``stopped``;
  ``starting``/``started`` ones become ``unknown`` first; then, by ``recovery.policy``, the
  execution of a restartable job moves back to ``undispatched`` as its next attempt (``move``:
  no agent, attempt + 1; its next start command's ``restart`` resumes from its own steps and
  checkpoints, ``jsbus.control.restart_data``), any other fails with exit status
  ``AGENT-LOST``.
- ``drained``: an execution whose agent stopped it by itself, because it was drained or fenced
  itself (its final event's ``reason``), goes the same way.
- ``QueueWatch``: the leader's check of executions handed to an agent that sent nothing of
  them: the agent is asked (``Transport.execution_status``); one it does not have (404: it will
  refuse that attempt from now on) moves back to waiting as the next attempt.

Events of an older attempt are refused by ``jsbus.recorder``, and a heartbeat's answer names
what its agent runs that the bus no longer gives it (``jsbus.bus.Bus.record_heartbeat``).
"""
from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Iterable

from jsbus.errors import ConfigurationError, NotFound, TransportError
from jsbus.model import (AgentStatus, BatchStatus, JobExecution, LogRecord, utcnow)
from jsbus.storage import Storage

log = logging.getLogger(__name__)
AGENT_LOST = "AGENT-LOST"
POLICIES = ("auto", "fail")
Transition = tuple[JobExecution, BatchStatus]
# A drained execution moves from these (not from ``stopping``: a stop somebody asked for holds).
DRAIN_SOURCES = (BatchStatus.QUEUED, BatchStatus.STARTING, BatchStatus.STARTED,
                 BatchStatus.UNKNOWN)
# What a lost agent held.
# The ``reason`` of a final ``stopped`` event of an execution its agent stopped by itself.
SELF_STOPS = {"drain": "drained", "fence": "fenced"}
HELD = (BatchStatus.QUEUED, BatchStatus.STARTING, BatchStatus.STARTED, BatchStatus.STOPPING,
         BatchStatus.UNKNOWN)


def check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise ConfigurationError(f"recovery.policy must be one of {', '.join(POLICIES)}, "
                                 f"not {policy!r}")
    return policy


def restarts(storage: Storage, policy: str, execution: JobExecution) -> bool:
    """``auto``: a restartable job's execution runs again as its next attempt; ``fail``: none."""
    if policy != "auto":
        return False
    try:
        return bool(storage.get_job(execution.app, execution.job).definition.restartable)
    except NotFound:
        return False


def _agent(execution: JobExecution) -> str:
    return execution.agent_name or execution.agent_id or "?"


def _note(storage: Storage, execution: JobExecution, message: str) -> None:
    """Why, at WARNING: in the bus's log and in the execution's own log."""
    log.warning("execution %s (%s/%s) %s", execution.id, execution.app, execution.job, message)
    storage.append_logs([LogRecord(execution_id=execution.id, time=utcnow(), level="WARNING",
                                   message=message, logger=__name__)])


def move(storage: Storage, execution: JobExecution, sources: Iterable[BatchStatus],
         why: str) -> JobExecution | None:
    """Back to ``undispatched`` as the next attempt, when still in ``sources`` at its attempt."""
    with storage.batch():  # the move and why, together
        after = storage.requeue_execution(execution.id, execution.attempt, tuple(sources))
        if after is not None:
            _note(storage, execution, f"moved from agent {_agent(execution)} ({why}) as "
                                      f"attempt {after.attempt}")
    return after


def fail(storage: Storage, execution: JobExecution, why: str) -> JobExecution | None:
    with storage.batch():
        after = storage.transition_execution(execution.id, BatchStatus.FAILED,
                                             end_time=utcnow(), exit_status=AGENT_LOST)
        if after is not None:
            _note(storage, execution, f"failed: agent {_agent(execution)} {why} "
                                      f"(recovery policy: not restarted)")
    return after


def settle(storage: Storage, policy: str, execution: JobExecution,
           why: str = "lost") -> list[Transition]:
    """Apply the recovery policy to one execution of an agent that is gone; the transitions
    made, in order (each to be notified)."""
    status, done = execution.batch_status, []
    if status is BatchStatus.STOPPING:
        with storage.batch():
            after = storage.transition_execution(execution.id, BatchStatus.STOPPED,
                                                 end_time=utcnow(), exit_status="STOPPED")
            if after is not None:
                _note(storage, execution, f"stopped: agent {_agent(execution)} {why} while "
                                          f"it was stopping")
        if after is not None:
            done.append((after, status))
        return done
    if status in (BatchStatus.STARTING, BatchStatus.STARTED):
        after = storage.transition_execution(execution.id, BatchStatus.UNKNOWN)
        if after is None:
            return done
        done.append((after, status))
        execution, status = after, BatchStatus.UNKNOWN
    if status not in (BatchStatus.QUEUED, BatchStatus.UNKNOWN):
        return done
    if restarts(storage, policy, execution):
        after = move(storage, execution, (status,), f"{why}")
    else:
        after = fail(storage, execution, why)
    if after is not None:
        done.append((after, status))
    return done


def lost_agent(storage: Storage, policy: str, agent_id: str,
               why: str = "lost") -> list[Transition]:
    """Settle every execution the agent held."""
    done: list[Transition] = []
    for execution in storage.executions_in(HELD, agent_id):
        done.extend(settle(storage, policy, execution, why))
    return done


def drained(storage: Storage, policy: str, execution: JobExecution,
            reason: str = "drain") -> JobExecution | None:
    """An execution its agent stopped by itself (``reason``: it was drained, or fenced itself):
    moved as the next attempt when the policy restarts it; None when it is to be recorded
    ``stopped``."""
    if execution.batch_status not in DRAIN_SOURCES or not restarts(storage, policy, execution):
        return None
    return move(storage, execution, DRAIN_SOURCES, SELF_STOPS.get(reason, reason))


class QueueWatch:
    """Which ``queued`` executions the leader asks their agent about, and the asking.

    An execution is asked about once it has been queued ``after`` seconds (a few command
    timeouts) with no event, counted from when this process delivered it when it did, and at
    most once per ``after`` seconds; on the leader's start, every queued execution is."""

    def __init__(self, storage: Storage, transport, policy: str, after: float):
        self.storage = storage
        self.transport = transport
        self.policy = policy
        self.after = after
        self.delivered: dict[int, float] = {}  # execution id -> when this process handed it
        self.asked: dict[int, float] = {}

    def handed(self, execution_ids: Iterable[int]) -> None:
        now = time.monotonic()
        for execution_id in execution_ids:
            self.delivered[execution_id] = now

    def due(self, everything: bool = False) -> list[JobExecution]:
        now = time.monotonic()
        if everything:
            found = self.storage.executions_in((BatchStatus.QUEUED,))
        else:
            found = self.storage.executions_queued_before(
                utcnow() - timedelta(seconds=self.after))
        due = [e for e in found
               if now - self.delivered.get(e.id, 0.0) > self.after
               and now - self.asked.get(e.id, 0.0) > self.after]
        for execution in due:
            self.asked[execution.id] = now
        horizon = now - 10 * self.after
        self.delivered = {k: v for k, v in self.delivered.items() if v > horizon}
        self.asked = {k: v for k, v in self.asked.items() if v > horizon}
        return due

    def ask(self, execution: JobExecution) -> list[Transition]:
        """Runs on the I/O pool: ask the agent, apply the answer; the transitions made."""
        storage = self.storage
        try:
            agent = storage.get_agent(execution.agent_id) if execution.agent_id else None
        except NotFound:
            agent = None
        if agent is None:
            after = move(storage, execution, (BatchStatus.QUEUED,), "unknown agent")
            return [(after, BatchStatus.QUEUED)] if after is not None else []
        if agent.status in (AgentStatus.LOST, AgentStatus.REVOKED):
            return settle(storage, self.policy, execution, agent.status.value)
        try:
            answer = self.transport.execution_status(agent, execution.id, execution.attempt)
        except TransportError as exc:  # unreachable: the lease rule decides
            log.info("asking agent %s about queued execution %s: %s", agent.name,
                     execution.id, exc)
            return []
        if answer is not None:
            return []  # it has it: its events will come
        after = move(storage, execution, (BatchStatus.QUEUED,), "it does not have it")
        return [(after, BatchStatus.QUEUED)] if after is not None else []
