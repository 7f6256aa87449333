"""Dry runs ("test executions", the original's test mode): a job run on a real agent with every
component a no-op, to find what only running it shows, without running application code.

The bus never runs job code: :class:`DryRunner` stores the test execution (``starting``),
picks the least loaded ready agent, and on a thread of its own asks that agent
(``Transport.dry_run``: the agent's ``POST /dry-runs``, which replaces the components by
no-ops itself, ``jsagent.dryrun``) and stores the outcome. The API answers at once; ``GET
/test-execution/{id}`` shows the progress (``starting``, ``started``, then ``completed`` or
``failed``).

Bounded: the agent kills a dry run still running after ``dryrun.timeout`` seconds, the
transport waits that long plus ``ANSWER_MARGIN`` for its answer, and every test execution has
a deadline (``deadline_for``) after which any bus process that reads it marks it failed. That
last rule, rather than "fail every unfinished row when a bus starts", is what ends a dry run
whose bus process died: several bus processes share one database (a leader and followers), so
a process that starts cannot tell another live one's dry runs from a dead one's.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any, Callable

from jsbus.errors import TestExecutionNotFound, TransportError
from jsbus.model import AgentInfo, AgentStatus, BatchStatus, TestExecution, utcnow

__all__ = ["DryRunner", "TestExecution", "TestExecutionNotFound"]

log = logging.getLogger(__name__)
ANSWER_MARGIN = 10.0  # seconds the bus waits for an agent's answer beyond the dry run's timeout
DEADLINE_MARGIN = 30.0  # seconds beyond that before a reader declares a test execution lost
MAX_RUNNING = 8  # dry runs one bus process has in flight; more wait for a thread
NO_AGENT = "No agent available"
NO_AGENT_HINT = "Please run an agent to execute the test"
LOST = ("the dry run did not end by its deadline: the bus process that ran it stopped (a "
        "restart?) or lost its agent")


def deadline_for(created: datetime, timeout: float) -> datetime:
    """When a test execution created at ``created`` is lost if it has not ended."""
    return created + timedelta(seconds=timeout + ANSWER_MARGIN + DEADLINE_MARGIN)


def choose_agent(agents: list[AgentInfo], running: dict[str, int], now: datetime,
                 lease: float) -> AgentInfo | None:
    """The least loaded agent that is ready, not blocked and heard from within ``lease``
    seconds: fewest running executions for its capacity, then the lowest load average (the
    dispatcher's order, ``AgentSlot.load``). A dry run takes no capacity place: a full agent
    is only chosen when every agent is full."""
    def alive(agent: AgentInfo) -> bool:
        return (agent.status is AgentStatus.READY and not agent.blocked
                and agent.last_seen is not None
                and now - agent.last_seen <= timedelta(seconds=lease))

    def load(agent: AgentInfo) -> tuple[float, float]:
        system = (agent.stats.get("cpu") or {}).get("system") or {}
        average = system.get("load-average")
        return (running.get(agent.instance_id, 0) / max(1, agent.capacity),
                average if isinstance(average, (int, float)) and average >= 0 else float("inf"))
    candidates = [agent for agent in agents if alive(agent)]
    return min(candidates, key=load) if candidates else None


class DryRunner:
    """Starts dry runs for one bus process (``bus``: storage, config, transport)."""

    def __init__(self, bus, clock: Callable[[], datetime] = utcnow):
        self.bus = bus
        self.clock = clock
        self.timeout = float(bus.config.get("dryrun.timeout"))
        self._slots = threading.BoundedSemaphore(MAX_RUNNING)
        self._threads: set[threading.Thread] = set()
        self._guard = threading.Lock()

    # -- what the API calls --------------------------------------------------------------------
    def start(self, app: str, document: dict[str, Any], job: str) -> TestExecution:
        """Store a test execution of ``document`` and run it on an agent, on a thread; failed
        at once (the original's messages) when no agent can take it."""
        storage, now = self.bus.storage, self.clock()
        storage.get_application(app)
        self.expire()
        test = storage.create_test_execution(app, job, document, now,
                                             deadline_for(now, self.timeout))
        agent = choose_agent(storage.list_agents(), storage.active_counts(), now,
                             float(self.bus.config.get("agents.lease")))
        if agent is None:
            storage.finish_test_execution(test.id, BatchStatus.FAILED, now, messages=[NO_AGENT],
                                          exception=NO_AGENT_HINT)
            return storage.get_test_execution(test.id)
        thread = threading.Thread(target=self._run, args=(test, agent), daemon=True,
                                  name=f"jsbus-dry-run-{test.id}")
        with self._guard:
            self._threads.add(thread)
        thread.start()
        return test

    def get(self, test_id: int) -> TestExecution:
        """The test execution; one past its deadline is failed first (a write only then)."""
        test = self.bus.storage.get_test_execution(test_id)
        if not test.batch_status.is_final and test.deadline < self.clock() and self.expire():
            test = self.bus.storage.get_test_execution(test_id)
        return test

    def delete(self, test_id: int) -> None:
        self.bus.storage.delete_test_execution(test_id)

    def expire(self) -> int:
        """Fail the test executions past their deadline (see the module's text)."""
        return self.bus.storage.expire_test_executions(self.clock(), LOST)

    def join(self, timeout: float) -> bool:
        """Wait until the dry runs this runner started have ended (tests, shutdown)."""
        with self._guard:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)
        return not any(thread.is_alive() for thread in threads)

    # -- on the dry run's thread ---------------------------------------------------------------
    def _run(self, test: TestExecution, agent: AgentInfo) -> None:
        try:
            self._slots.acquire()
            try:
                self._ask(test, agent)
            finally:
                self._slots.release()
        except Exception:  # noqa: BLE001 - the deadline fails the row if storage is gone
            log.exception("dry run %s: could not record its outcome", test.id)
        finally:
            with self._guard:
                self._threads.discard(threading.current_thread())

    def _ask(self, test: TestExecution, agent: AgentInfo) -> None:
        storage = self.bus.storage
        if not storage.start_test_execution(test.id, agent.instance_id, agent.name,
                                            self.clock()):
            return  # deleted or expired meanwhile
        transport = self.bus.context.transport if self.bus.context else None
        try:
            if transport is None:
                raise TransportError("the bus is not started: no transport")
            answer = transport.dry_run(agent, test.document, self.timeout)
        except TransportError as exc:
            storage.finish_test_execution(
                test.id, BatchStatus.FAILED, self.clock(),
                messages=[f"the dry run could not run on agent {agent.name} "
                          f"({agent.instance_id}): {exc}"])
            return
        except Exception as exc:  # noqa: BLE001 - a transport bug must not leave it running
            log.exception("dry run %s: the transport failed", test.id)
            storage.finish_test_execution(test.id, BatchStatus.FAILED, self.clock(),
                                          messages=[f"the dry run failed: {exc!r}"])
            return
        self._record(test.id, answer)

    def _record(self, test_id: int, answer: dict[str, Any]) -> None:
        status = answer.get("batch-status")
        batch_status = (BatchStatus.COMPLETED if status == "completed"
                        else BatchStatus.STOPPED if status == "stopped" else BatchStatus.FAILED)
        messages = [str(m) for m in answer.get("messages") or []]
        if status not in ("completed", "failed", "stopped"):
            messages.append(f"the agent answered an unknown batch status {status!r}")
        steps = [step for step in answer.get("steps") or [] if isinstance(step, dict)]
        exception = answer.get("exception")
        self.bus.storage.finish_test_execution(
            test_id, batch_status, self.clock(), exit_status=answer.get("exit-status"),
            steps=steps, messages=messages,
            exception=str(exception) if exception is not None else None)
