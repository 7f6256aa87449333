"""The runtime actor: owns the executions of this agent and turns what workers do into events.

HTTP handlers ``ask`` it (always with a timeout); the pipe watcher, the launcher and the alarm
``tell`` it. Nothing slow runs here: workers are started on the launcher's thread, their pipes
are read and written by the pipe watcher's thread, and waits are alarms.

An execution is ``held`` (its not-before is further away than ``handoff``: see
``jsagent.holds``), then ``waiting`` for a worker of its key, then ``running`` on one, then
``done``. Held and waiting executions count towards the capacity like running ones.

Each execution is one ``attempt`` of it (``docs/protocol.md``, "Attempts and fencing"): every
event sent for it carries the attempt. Draining, self-fencing, moved executions and the state
query are handled in ``jsagent.fencing``.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from typing import Any, Callable

import pykka

from jsagent.alarm import Alarm
from jsagent.commands import command_json
from jsagent.events import EVENT_TYPES, execution_event, is_final, log_event, step_ended
from jsagent.fencing import AgentFencing
from jsagent.holds import HandOffDue, Holds, not_before_seconds
from jsagent.messages import (CheckpointStored, Drain, DrainDue, Execution, Fence, Moved,
                              PrestartWorkers, QueryExecution, RunningCount, Shutdown, Snapshot,
                              StartExecution, StartExecutions, StopExecution, Tombstones,
                              Unfence, WorkerNews, attempt_of, ended_how, restart_position)
from jsagent.pipes import PipeWatcher
from jsagent.pool import (PoolSettings, SweepPool, WorkerNotStarted, WorkerPool,
                          WorkerStarted)
from jsagent.workerproc import ChildEvent, ChildOutput, PoolWorker, RunEnded, WorkerGone
from jsbus.model import StartCommand

__all__ = ["CheckpointStored", "Drain", "ExecutionRuntime", "Fence", "Moved", "PrestartWorkers",
           "QueryExecution", "RunningCount", "Shutdown", "Snapshot", "StartExecution",
           "StartExecutions", "StopExecution", "Unfence"]

log = logging.getLogger(__name__)
OUTPUT_LEVELS = {"stdout": "INFO", "stderr": "WARNING"}
# Finished executions remembered so that a repeated start command runs nothing; the oldest are
# forgotten past this many, so a long-lived agent does not grow without bound.
REMEMBER_FINISHED = 10_000


class ExecutionRuntime(AgentFencing, pykka.ThreadingActor):
    """Accepts start commands up to ``capacity``, runs them on pooled workers (started by
    ``spawn(number)``) and follows each until it ends. ``emit`` queues an event for the bus;
    ``idle`` is set whenever no execution is accepted and unfinished."""

    use_daemon_thread = True

    def __init__(self, emit: Callable[..., Any], capacity: int, stop_grace: float,
                 spawn: Callable[[int], PoolWorker], settings: PoolSettings,
                 handoff: float = 0.3, idle: threading.Event | None = None,
                 work_dir: str | None = None, clock: Callable[[], float] = time.time):
        super().__init__()
        self._emit, self._capacity, self._stop_grace = emit, capacity, stop_grace
        self._spawn, self._settings, self._handoff = spawn, settings, handoff
        self._work_dir, self._clock = work_dir, clock
        self.idle = idle or threading.Event()
        self.idle.set()
        self._executions: dict[int, Execution] = {}
        self._finished: deque[Execution] = deque()
        self._waiting: dict[int, Execution] = {}  # in order of arrival
        self._tombstones = Tombstones()
        self._active = 0
        self._closing = self._draining = self._fenced = False
        self._handlers = {
            StartExecution: lambda m: self._accept_all((m.command,))[0],
            StartExecutions: lambda m: self._accept_all(m.commands),
            StopExecution: self._stop_one, Shutdown: self._stop_everything,
            QueryExecution: self._query, Moved: self._moved, Fence: self._fence,
            Unfence: self._unfence, Drain: self._drain, DrainDue: self._drain_due,
            Snapshot: self._snapshot,
            RunningCount: lambda _: self._active, CheckpointStored: self._checkpoint_stored,
            PrestartWorkers: lambda _: self._pool.top_up(0), HandOffDue: self._hand_off,
            WorkerNews: self._news, WorkerStarted: self._worker_started,
            WorkerNotStarted: self._worker_not_started, SweepPool: lambda _: self._pool.sweep()}
        self._news_handlers = {ChildEvent: self._child_event, ChildOutput: self._child_output,
                               RunEnded: self._run_ended, WorkerGone: self._worker_gone}

    def on_start(self) -> None:
        self._alarm = Alarm(self._clock).start()
        self._watcher = PipeWatcher(lambda messages: self._notify(WorkerNews(messages))).start()
        self._pool = WorkerPool(self._settings, self._spawn, self._watcher, self._notify,
                                self._alarm, self._clock)
        self._holds = Holds(self._alarm, lambda: self._notify(HandOffDue()), self._clock)

    def on_stop(self) -> None:
        self._pool.close()
        self._alarm.close()

    def on_receive(self, message: Any) -> Any:
        handler = self._handlers.get(type(message))
        if handler is None:
            log.warning("runtime: unknown message %r", message)
            return None
        try:
            return handler(message)
        except Exception:  # noqa: BLE001 - this actor must outlive any one execution
            log.exception("runtime: failed to handle %r", message)
            if isinstance(message, (StartExecution, StartExecutions, StopExecution,
                                    QueryExecution, Moved, Snapshot)):
                raise
            return None

    def _notify(self, message: object) -> None:
        try:
            self.actor_ref.tell(message)
        except pykka.ActorDeadError:
            log.debug("runtime gone; dropped %r", message)

    # --- accepting, holding, handing over --------------------------------------------------

    def _accept_all(self, commands: tuple[StartCommand, ...]) -> list[tuple[int, dict]]:
        answers = [self._accept(command) for command in commands]
        self._dispatch()
        return answers

    def _accept(self, command: StartCommand) -> tuple[int, dict[str, Any]]:
        eid, attempt = command.execution_id, attempt_of(command)
        if self._tombstones.refuses(eid, attempt):
            return 409, {"messages": [f"execution {eid}: the bus was told it is not here "
                                      f"(attempt {attempt} or later asked); it will not run"]}
        known = self._executions.get(eid)
        if known is not None and known.attempt == attempt:
            return 200, known.reply
        if known is not None and known.attempt > attempt:
            return 409, {"messages": [f"execution {eid}: attempt {attempt} is stale, this agent "
                                      f"had attempt {known.attempt}"]}
        if known is not None and not known.done:
            return 409, {"messages": [f"execution {eid} still runs here as attempt "
                                      f"{known.attempt}; stop it first"]}
        refusal = self._refusal()
        if refusal is not None:
            return 503, {"messages": [refusal]}
        execution = Execution(eid, {"execution-id": eid, "accepted": True}, attempt=attempt,
                              key=(command.classpath, self._work_dir),
                              line=command_json(command) + b"\n",
                              restart_position=restart_position(command))
        self._executions[command.execution_id] = execution
        self._active += 1
        self.idle.clear()
        self._send(execution, execution_event(command.execution_id, "starting"))
        not_before = not_before_seconds(command.not_before)
        if not_before is not None and not_before - self._handoff > self._clock():
            execution.state = "held"
            self._holds.add(not_before - self._handoff, command.execution_id)
        else:
            self._waiting[command.execution_id] = execution
        return 202, execution.reply

    def _refusal(self) -> str | None:
        """Why no new execution is taken now, or None."""
        if self._closing:
            return "the agent is shutting down"
        if self._draining:
            return "the agent is draining: it takes no new work"
        if self._fenced:
            return "the agent is fenced: its heartbeats have not reached the bus"
        if self._active >= self._capacity:
            return f"the agent is at capacity: {self._capacity} executions running"
        return None

    def _send(self, execution: Execution, event: dict[str, Any],
              on_stored: Callable[[], None] | None = None) -> None:
        """Queue an event of ``execution`` for the bus, with its ``attempt`` (and, on the final
        event of an execution the agent stopped itself, the ``reason``); nothing of a moved
        execution is sent."""
        if execution.moved:
            return
        event["attempt"] = execution.attempt
        if is_final(event):
            execution.batch_status = event.get("status")
            if execution.reason is not None:
                event["reason"] = execution.reason
        if on_stored is None:
            self._emit(event)
        else:
            self._emit(event, on_stored)

    def _hand_off(self, _: HandOffDue) -> None:
        for execution_id in self._holds.due():
            execution = self._executions.get(execution_id)
            if execution is not None and execution.state == "held":
                execution.state = "waiting"
                self._waiting[execution_id] = execution
        self._dispatch()

    def _dispatch(self) -> None:
        """Give waiting executions a worker each, in order; start workers for the rest."""
        unmatched = 0
        for execution in list(self._waiting.values()):
            worker = self._pool.take(execution.key) if self._pool.available() else None
            if worker is None:
                unmatched += 1
                continue
            del self._waiting[execution.execution_id]
            execution.state, execution.worker = "running", worker
            self._pool.assign(worker, execution.execution_id, execution.line)
        self._pool.top_up(unmatched)

    # --- stopping --------------------------------------------------------------------------

    def _stop_one(self, message: StopExecution, reason: str | None = None) -> bool:
        execution = self._executions.get(message.execution_id)
        if execution is None:
            return False
        if execution.done or execution.stop_requested:
            return True
        execution.stop_requested, execution.reason = True, reason
        if execution.state in ("held", "waiting"):  # nothing ran: as a worker's not-before wait
            self._waiting.pop(execution.execution_id, None)
            self._send(execution, execution_event(execution.execution_id, "stopped", "STOPPED",
                                                  execution.restart_position))
            self._finish(execution)
        else:
            worker = execution.worker
            worker.retired = worker.retired or "its execution was stopped"
            worker.terminate()
            worker.killer = self._alarm.at(self._clock() + self._stop_grace, worker.kill)
        return True

    # --- what workers do -------------------------------------------------------------------

    def _news(self, news: WorkerNews) -> None:
        for message in news.messages:
            try:
                self._news_handlers[type(message)](message)
            except Exception:  # noqa: BLE001 - the rest of the round still counts
                log.exception("runtime: failed to handle %r", message)

    def _running(self, execution_id: int) -> Execution | None:
        execution = self._executions.get(execution_id)
        return execution if execution is not None and execution.state == "running" else None

    def _child_event(self, message: ChildEvent) -> None:
        execution = self._running(message.execution_id)
        if execution is not None:
            execution.heard = True
        event = dict(message.event)
        if execution is not None and event.get("type") == "checkpoint":
            self._forward_checkpoint(execution, event)
            return
        if execution is None or event.get("type") not in EVENT_TYPES:
            log.warning("execution %s: ignored worker event %r", message.execution_id, event)
            return
        event["execution-id"] = execution.execution_id
        if event["type"] == "step-started":
            execution.open_step = event.get("step")
        elif event["type"] == "step-ended":
            execution.open_step = None
        if is_final(event):
            execution.final_event = event  # sent once the run's every line was read
            return
        self._send(execution, event)

    def _forward_checkpoint(self, execution: Execution, event: dict[str, Any]) -> None:
        """Checkpoints go to the bus in order with the other events; the worker waits until the
        bus has stored one (its ``ack`` number comes back on the worker's stdin)."""
        ack = event.pop("ack", None)
        event["execution-id"] = execution.execution_id
        stored = CheckpointStored(execution.execution_id, ack)
        self._send(execution, event, lambda: self._notify(stored))

    def _checkpoint_stored(self, message: CheckpointStored) -> None:
        execution = self._running(message.execution_id)
        if execution is not None and execution.worker is not None:
            line = json.dumps({"ack": message.ack}).encode() + b"\n"
            self._watcher.send(execution.worker, line)

    def _child_output(self, message: ChildOutput) -> None:
        execution = self._running(message.execution_id)
        if execution is not None:
            execution.heard = True
            self._send(execution, log_event(execution.execution_id, execution.open_step,
                                            OUTPUT_LEVELS[message.stream], message.stream,
                                            message.line))

    def _run_ended(self, message: RunEnded) -> None:
        self._pool.run_ended(message.worker, message.reuse, message.reason)
        execution = self._running(message.execution_id)
        if execution is not None and execution.worker is message.worker:
            self._end(execution, "the worker ended the run without a final event")
        self._dispatch()

    def _worker_gone(self, message: WorkerGone) -> None:
        worker = message.worker
        killer = getattr(worker, "killer", None)
        if killer is not None:
            killer.cancel()
        self._pool.gone(worker)
        execution = self._running(worker.execution_id) if worker.execution_id else None
        if execution is not None and execution.worker is worker:
            if execution.heard or execution.stop_requested or execution.retried:
                self._end(execution, ended_how(message))
            else:  # it died before it read the command: nothing ran; once more, elsewhere
                log.warning("execution %d: %r ended before it began (%s); another worker "
                            "runs it", execution.execution_id, worker, ended_how(message))
                self._retry(execution, worker)
        elif worker.retired is None:
            log.warning("%r ended while idle (%s)", worker, ended_how(message))
        self._dispatch()

    def _retry(self, execution: Execution, _: PoolWorker) -> None:
        execution.retried, execution.state, execution.worker = True, "waiting", None
        self._waiting[execution.execution_id] = execution

    def _worker_started(self, message: WorkerStarted) -> None:
        self._pool.started(message.worker)
        self._dispatch()

    def _worker_not_started(self, message: WorkerNotStarted) -> None:
        self._pool.not_started()
        if self._waiting:  # one waiting execution fails per worker that could not start
            execution = next(iter(self._waiting.values()))
            del self._waiting[execution.execution_id]
            self._send(execution, execution_event(execution.execution_id, "failed",
                                                  f"worker could not start: {message.error}",
                                                  execution.restart_position))
            self._finish(execution)
        self._dispatch()

    # --- the end of an execution -----------------------------------------------------------

    def _end(self, execution: Execution, how: str) -> None:
        if execution.final_event is not None:
            self._send(execution, execution.final_event)
        else:
            self._report_lost_worker(execution, how)
        self._finish(execution)

    def _finish(self, execution: Execution) -> None:
        execution.state, execution.worker, execution.line = "done", None, None
        self._active -= 1
        if not self._active:
            self.idle.set()
        self._finished.append(execution)
        while len(self._finished) > REMEMBER_FINISHED:
            oldest = self._finished.popleft()
            if self._executions.get(oldest.execution_id) is oldest:
                del self._executions[oldest.execution_id]

    def _report_lost_worker(self, execution: Execution, how: str) -> None:
        status = "stopped" if execution.stop_requested else "failed"
        log.warning("execution %d: %s", execution.execution_id, how)
        if execution.open_step is not None:
            self._send(execution, step_ended(execution.execution_id, execution.open_step, status,
                                             how))
            execution.open_step = None
        self._send(execution, execution_event(execution.execution_id, status, how))
