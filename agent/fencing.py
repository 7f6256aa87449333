"""The runtime actor's handlers for what keeps work from running twice (``docs/protocol.md``,
"Attempts and fencing"): draining, self-fencing, executions the bus moved away, the state query
with its tombstones, and the heartbeat's snapshot. Mixed into ``jsagent.runtime``'s actor: they
run on its thread and use its state."""
from __future__ import annotations

import logging
from typing import Any

from jsagent.messages import (Drain, DrainDue, Execution, Fence, Moved, QueryExecution,
                              Shutdown, Snapshot, StopExecution, Unfence)

log = logging.getLogger("jsagent.runtime")


class AgentFencing:
    """Handlers of ``ExecutionRuntime`` (which provides ``_executions``, ``_stop_one``...)."""

    def _unfinished(self) -> list[Execution]:
        return [execution for execution in self._executions.values() if not execution.done]

    def _stop_everything(self, message: Shutdown) -> int:
        self._closing = True
        for execution in self._unfinished():
            self._stop_one(StopExecution(execution.execution_id), reason="drain")
            if message.kill and execution.worker is not None:
                execution.worker.kill()
        self._pool.close()
        return self._active

    def _drain(self, message: Drain) -> None:
        if self._draining:
            return
        self._draining = True
        log.warning("draining: no new executions; %d running get %g s to end before they are "
                    "stopped", self._active, message.grace)
        self._alarm.at(self._clock() + max(0.0, message.grace),
                       lambda: self._notify(DrainDue()))

    def _drain_due(self, _: DrainDue) -> None:
        unfinished = self._unfinished()
        if unfinished:
            log.warning("drain grace over: stopping %d executions (reason drain)", len(unfinished))
        for execution in unfinished:
            self._stop_one(StopExecution(execution.execution_id), reason="drain")

    def _fence(self, message: Fence) -> None:
        if self._fenced:
            return
        self._fenced = True
        unfinished = self._unfinished()
        log.error("SELF-FENCED: %s; stopping %d executions and taking no new ones until a "
                  "heartbeat succeeds", message.why, len(unfinished))
        for execution in unfinished:
            self._stop_one(StopExecution(execution.execution_id), reason="fence")

    def _unfence(self, _: Unfence) -> None:
        if self._fenced:
            self._fenced = False
            log.warning("heartbeats reach the bus again: the agent takes work again")

    def _moved(self, message: Moved) -> list[tuple[int, int]]:
        """Kill what the bus moved away; the reply is the pairs that were found here."""
        found = []
        for execution_id, attempt in message.pairs:
            execution = self._executions.get(execution_id)
            if execution is None or execution.attempt != attempt or execution.moved:
                continue
            found.append((execution_id, attempt))
            execution.moved = True
            if execution.done:
                continue
            log.warning("execution %d attempt %d: the bus moved it away; killed, nothing more "
                        "of it is sent", execution_id, attempt)
            execution.stop_requested = True
            if execution.state in ("held", "waiting"):
                self._waiting.pop(execution_id, None)
                self._finish(execution)
            else:
                execution.worker.retired = "its execution was moved to another agent"
                execution.worker.kill()
        return found

    def _query(self, message: QueryExecution) -> tuple[int, dict[str, Any]]:
        execution = self._executions.get(message.execution_id)
        if execution is not None:
            return 200, execution.describe()
        if message.attempt is not None:
            self._tombstones.add(message.execution_id, message.attempt)
        return 404, {"messages": [f"execution {message.execution_id} is not known here"]}

    def _snapshot(self, _: Snapshot) -> dict[str, Any]:
        return {"running": self._active, "draining": self._draining,
                "executions": [[e.execution_id, e.attempt] for e in self._unfinished()]}
