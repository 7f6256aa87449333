"""One Agent actor per known agent: it sends that agent its commands.

Sending is network I/O, so it runs on the context's I/O pool; the result comes back to this
actor as a message. Start commands travel in batches, one batch in flight per agent: what is
claimed while one is on its way goes in the next. A start that cannot be delivered puts the
execution back to waiting as its next attempt (guarded on ``queued`` at the attempt sent), so
nothing is lost and a late arrival of the command is fenced, and tells the ControlBus.
"""
from __future__ import annotations

import logging

import pykka

from jsbus.actors.base import SafeActor
from jsbus.actors.context import BusContext
from jsbus.actors.messages import (DispatchFailed, SendResult, SendResults, StartExecutions,
                                   StartsDelivered, StopExecution, UpdateAgent)
from jsbus.control import restart_data
from jsbus.errors import TransportError
from jsbus.jsl import job_to_document
from jsbus.model import AgentInfo, BatchStatus, JobExecution, StartCommand
from jsbus.wire import rfc3339

log = logging.getLogger(__name__)
MAX_BATCH = 100  # start commands in one exchange with an agent


class AgentActor(SafeActor):
    def __init__(self, agent: AgentInfo, context: BusContext, parent: pykka.ActorRef):
        super().__init__()
        self.agent = agent
        self.context = context
        self.parent = parent
        self.outbox: list[JobExecution] = []
        self.sending = False

    def on_update_agent(self, message: UpdateAgent) -> None:
        self.agent = message.agent

    def on_start_executions(self, message: StartExecutions) -> None:
        self.outbox.extend(message.executions)
        self._send_next()

    def _send_next(self) -> None:
        """One batch in flight per agent: what is claimed meanwhile goes in the next one."""
        if self.sending or not self.outbox:
            return
        batch, self.outbox = self.outbox[:MAX_BATCH], self.outbox[MAX_BATCH:]
        self.sending = True
        self.context.io.submit(self._send_starts, self.agent, batch, self.actor_ref)

    def _send_starts(self, agent: AgentInfo, executions: list[JobExecution],
                     me: pykka.ActorRef) -> None:
        """Runs on the I/O pool."""
        results, commands, sent = [], [], []
        documents: dict = {}
        for execution in executions:
            try:
                commands.append(self._command(execution, documents))
                sent.append(execution)
            except Exception as exc:  # noqa: BLE001 - reported back as state, never lost
                log.exception("preparing execution %s for agent %s failed", execution.id,
                              agent.name)
                results.append(SendResult(execution.id, exc, attempt=execution.attempt))
        if commands:
            try:
                outcomes = self.context.transport.start_executions(agent, commands)
            except Exception as exc:  # noqa: BLE001 - a third-party transport that raised
                outcomes = [exc] * len(commands)
            for execution, error in zip(sent, outcomes):
                results.append(SendResult(execution.id, error,
                                          busy=bool(getattr(error, "busy", False)),
                                          attempt=execution.attempt))
        batch = SendResults(tuple(results))
        try:
            me.tell(batch)
        except pykka.ActorDeadError:  # nobody follows this batch any more
            for result in batch.results:
                if result.error is not None:
                    self._undispatch(result)

    def _command(self, execution: JobExecution, documents: dict) -> StartCommand:
        """``documents`` caches each job's document and classpath for one batch. The classpath
        is that of the application revision the execution was created with."""
        storage = self.context.storage
        key = (execution.app, execution.job, execution.revision)
        if key not in documents:
            job = storage.get_job(execution.app, execution.job)
            app = storage.get_application(execution.app, execution.revision)
            documents[key] = (job_to_document(job.definition), app.classpath, app.builtins)
        document, classpath, builtins = documents[key]
        return StartCommand(execution_id=execution.id, app=execution.app, job=execution.job,
                            document=document, parameters=dict(execution.job_parameters),
                            classpath=classpath, builtins=tuple(builtins),
                            restart=restart_data(storage, execution),
                            attempt=execution.attempt,
                            not_before=(rfc3339(execution.not_before)
                                        if execution.not_before else None))

    def on_stop_execution(self, message: StopExecution) -> None:
        self.context.io.submit(self._send_stop, self.agent, message.execution_id)

    def _send_stop(self, agent: AgentInfo, execution_id: int) -> None:
        """Runs on the I/O pool; the ControlBus sends the stop again while it is not done."""
        try:
            self.context.transport.stop_execution(agent, execution_id)
        except TransportError as exc:
            log.warning("stop of execution %s on agent %s: %s", execution_id, agent.name, exc)

    def on_send_results(self, message: SendResults) -> None:
        self.sending = False
        taken = tuple(result.execution_id for result in message.results if result.error is None)
        if taken:
            self.parent.tell(StartsDelivered(taken))
        for result in message.results:
            if result.error is not None:
                log.warning("agent %s did not take execution %s: %s", self.agent.name,
                            result.execution_id, result.error)
                self._undispatch(result)
        self._send_next()

    def _undispatch(self, result: SendResult) -> None:
        """Back to waiting as the next attempt, guarded on the attempt it was sent as: a start
        that timed out may still arrive and run, and is fenced; and one that another bus
        process moved meanwhile (it asked the agent) is left alone."""
        self.context.storage.requeue_execution(result.execution_id, result.attempt,
                                               (BatchStatus.QUEUED,))
        self.parent.tell(DispatchFailed(self.agent.instance_id, result.execution_id, result.busy))
