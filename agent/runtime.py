"""The runtime actor: owns the executions of this agent and turns what workers do into events.

HTTP handlers ``ask`` it (always with a timeout); the threads watching worker processes
``tell`` it. Nothing slow runs here: spawning and waiting happen in ``WorkerProcess`` threads.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable

import pykka

from jsagent.commands import command_json
from jsagent.events import EVENT_TYPES, execution_event, is_final, log_event, step_ended
from jsagent.workerproc import ChildEvent, ChildExited, ChildOutput, WorkerProcess
from jsbus.model import StartCommand

log = logging.getLogger(__name__)
OUTPUT_LEVELS = {"stdout": "INFO", "stderr": "WARNING"}
# Finished executions remembered so that a repeated start command runs nothing; the oldest are
# forgotten past this many, so a long-lived agent does not grow without bound.
REMEMBER_FINISHED = 10_000


@dataclass(frozen=True)
class StartExecution:
    """Run ``command``; the reply is ``(http_status, body)`` (202, 200 for a repeat, 503)."""

    command: StartCommand


@dataclass(frozen=True)
class StopExecution:
    """Stop an execution; the reply is False when the id is not known here."""

    execution_id: int


@dataclass(frozen=True)
class Shutdown:
    """Refuse new work and stop every running execution."""


@dataclass(frozen=True)
class RunningCount:
    """The reply is how many executions run now."""


@dataclass(frozen=True)
class CheckpointStored:
    """The bus stored the checkpoint the worker numbered ``ack``: let the worker read on."""

    execution_id: int
    ack: Any


@dataclass
class Execution:
    """What the runtime knows of one execution it accepted."""

    execution_id: int
    reply: dict[str, Any]
    process: Any = None
    open_step: str | None = None
    final_event: dict[str, Any] | None = None
    stop_requested: bool = False
    done: bool = False


def ended_how(exited: ChildExited) -> str:
    """The exit status of an execution whose worker ended without reporting one."""
    if exited.error:
        return exited.error
    if exited.returncode is not None and exited.returncode < 0:
        return f"worker killed by signal {-exited.returncode}"
    return f"worker exited with code {exited.returncode}"


class ExecutionRuntime(pykka.ThreadingActor):
    """Accepts start commands up to ``capacity`` and follows each worker until it ends.

    ``emit`` queues an event for the bus; ``launch(execution_id, command, notify)`` builds the
    worker (a ``WorkerProcess``); ``idle`` is set whenever nothing runs.
    """

    use_daemon_thread = True

    def __init__(self, emit: Callable[[dict], Any], capacity: int, stop_grace: float,
                 launch: Callable[..., Any] | None = None, idle: threading.Event | None = None,
                 work_dir: str | None = None):
        super().__init__()
        self._emit, self._capacity, self._stop_grace = emit, capacity, stop_grace
        self._launch = launch or (lambda eid, cmd, notify: WorkerProcess(eid, cmd, notify,
                                                                         cwd=work_dir))
        self.idle = idle or threading.Event()
        self.idle.set()
        self._executions: dict[int, Execution] = {}
        self._accepting = True
        self._handlers = {StartExecution: self._accept, StopExecution: self._stop_one,
                          Shutdown: self._stop_everything,
                          RunningCount: lambda _: self._running(),
                          ChildEvent: self._child_event, ChildOutput: self._child_output,
                          ChildExited: self._child_exited,
                          CheckpointStored: self._checkpoint_stored}

    def on_receive(self, message: Any) -> Any:
        handler = self._handlers.get(type(message))
        if handler is None:
            log.warning("runtime: unknown message %r", message)
            return None
        try:
            return handler(message)
        except Exception:  # noqa: BLE001 - this actor must outlive any one execution
            log.exception("runtime: failed to handle %r", message)
            if isinstance(message, (StartExecution, StopExecution)):
                raise
            return None

    def _running(self) -> int:
        return sum(1 for execution in self._executions.values() if not execution.done)

    def _notify(self, message: object) -> None:
        try:
            self.actor_ref.tell(message)
        except pykka.ActorDeadError:
            log.debug("runtime gone; dropped %r", message)

    def _accept(self, message: StartExecution) -> tuple[int, dict[str, Any]]:
        command = message.command
        known = self._executions.get(command.execution_id)
        if known is not None:
            return 200, known.reply
        if not self._accepting:
            return 503, {"messages": ["the agent is shutting down"]}
        if self._running() >= self._capacity:
            return 503, {"messages": [f"the agent is at capacity: {self._capacity} "
                                      f"executions running"]}
        execution = Execution(command.execution_id,
                              {"execution-id": command.execution_id, "accepted": True})
        self._executions[command.execution_id] = execution
        self.idle.clear()
        self._emit(execution_event(command.execution_id, "starting"))
        try:
            execution.process = self._launch(command.execution_id, command_json(command),
                                             self._notify)
            execution.process.start()
        except Exception as exc:  # noqa: BLE001 - e.g. no thread left: report, free the slot
            self._child_exited(ChildExited(command.execution_id, None,
                                           f"worker could not start: {exc}"))
        return 202, execution.reply

    def _stop_one(self, message: StopExecution) -> bool:
        execution = self._executions.get(message.execution_id)
        if execution is None:
            return False
        if not execution.done and not execution.stop_requested and execution.process:
            execution.stop_requested = True
            execution.process.stop(self._stop_grace)
        return True

    def _stop_everything(self, _: Shutdown) -> int:
        self._accepting = False
        for execution in self._executions.values():
            if not execution.done:
                self._stop_one(StopExecution(execution.execution_id))
        return self._running()

    def _child_event(self, message: ChildEvent) -> None:
        execution = self._executions.get(message.execution_id)
        event = dict(message.event)
        if execution is not None and not execution.done and event.get("type") == "checkpoint":
            self._forward_checkpoint(execution, event)
            return
        if execution is None or execution.done or event.get("type") not in EVENT_TYPES:
            log.warning("execution %s: ignored worker event %r", message.execution_id, event)
            return
        event["execution-id"] = execution.execution_id
        if event["type"] == "step-started":
            execution.open_step = event.get("step")
        elif event["type"] == "step-ended":
            execution.open_step = None
        if is_final(event):
            execution.final_event = event  # sent once the worker is gone and drained
            return
        self._emit(event)

    def _forward_checkpoint(self, execution: Execution, event: dict[str, Any]) -> None:
        """Checkpoints go to the bus in order with the other events; the worker waits until the
        bus has stored one (its ``ack`` number comes back on the worker's stdin)."""
        ack = event.pop("ack", None)
        event["execution-id"] = execution.execution_id
        stored = CheckpointStored(execution.execution_id, ack)
        self._emit(event, lambda: self._notify(stored))

    def _checkpoint_stored(self, message: CheckpointStored) -> None:
        execution = self._executions.get(message.execution_id)
        if execution is not None and not execution.done and execution.process is not None:
            execution.process.send({"ack": message.ack})

    def _child_output(self, message: ChildOutput) -> None:
        execution = self._executions.get(message.execution_id)
        if execution is None or execution.done:
            return
        self._emit(log_event(execution.execution_id, execution.open_step,
                             OUTPUT_LEVELS[message.stream], message.stream, message.line))

    def _child_exited(self, message: ChildExited) -> None:
        execution = self._executions.get(message.execution_id)
        if execution is None or execution.done:
            return
        execution.done = True
        if execution.final_event is not None:
            self._emit(execution.final_event)
        else:
            self._report_lost_worker(execution, ended_how(message))
        if not self._running():
            self.idle.set()
        self._forget_oldest_finished()

    def _forget_oldest_finished(self) -> None:
        finished = [eid for eid, execution in self._executions.items() if execution.done]
        for execution_id in finished[:max(0, len(finished) - REMEMBER_FINISHED)]:
            del self._executions[execution_id]

    def _report_lost_worker(self, execution: Execution, how: str) -> None:
        status = "stopped" if execution.stop_requested else "failed"
        log.warning("execution %d: %s", execution.execution_id, how)
        if execution.open_step is not None:
            self._emit(step_ended(execution.execution_id, execution.open_step, status, how))
            execution.open_step = None
        self._emit(execution_event(execution.execution_id, status, how))
