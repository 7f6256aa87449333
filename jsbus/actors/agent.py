"""One Agent actor per known agent: it sends that agent its commands.

Sending is network I/O, so it runs on the context's I/O pool; the result comes back to this
actor as a message. A start that cannot be delivered puts the execution back to waiting (a
guarded transition from ``queued``), so nothing is lost, and tells the ControlBus.
"""
from __future__ import annotations

import logging

import pykka

from jsbus.actors.base import SafeActor
from jsbus.actors.context import BusContext
from jsbus.actors.messages import (DispatchFailed, SendResult, StartExecution, StopExecution,
                                   UpdateAgent)
from jsbus.control import restart_data
from jsbus.errors import TransportError
from jsbus.jsl import job_to_document
from jsbus.model import AgentInfo, BatchStatus, JobExecution, StartCommand
from jsbus.wire import rfc3339

log = logging.getLogger(__name__)


class AgentActor(SafeActor):
    def __init__(self, agent: AgentInfo, context: BusContext, parent: pykka.ActorRef):
        super().__init__()
        self.agent = agent
        self.context = context
        self.parent = parent

    def on_update_agent(self, message: UpdateAgent) -> None:
        self.agent = message.agent

    def on_start_execution(self, message: StartExecution) -> None:
        agent, execution, me = self.agent, message.execution, self.actor_ref
        self.context.io.submit(self._send_start, agent, execution, me)

    def _send_start(self, agent: AgentInfo, execution: JobExecution, me: pykka.ActorRef) -> None:
        """Runs on the I/O pool."""
        try:
            command = self._command(execution)
            self.context.transport.start_execution(agent, command)
            result = SendResult(execution.id, None)
        except TransportError as exc:
            result = SendResult(execution.id, exc, busy=exc.busy)
        except Exception as exc:  # noqa: BLE001 - reported back as state, never lost
            log.exception("preparing execution %s for agent %s failed", execution.id, agent.name)
            result = SendResult(execution.id, exc)
        try:
            me.tell(result)
        except pykka.ActorDeadError:
            self._undispatch(result)

    def _command(self, execution: JobExecution) -> StartCommand:
        storage = self.context.storage
        job = storage.get_job(execution.app, execution.job)
        app = storage.get_application(execution.app)
        return StartCommand(execution_id=execution.id, app=execution.app, job=execution.job,
                            document=job_to_document(job.definition),
                            parameters=dict(execution.job_parameters), classpath=app.classpath,
                            restart=restart_data(storage, execution),
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

    def on_send_result(self, message: SendResult) -> None:
        if message.error is None:
            return
        log.warning("agent %s did not take execution %s: %s", self.agent.name,
                    message.execution_id, message.error)
        self._undispatch(message)

    def _undispatch(self, result: SendResult) -> None:
        self.context.storage.transition_execution(result.execution_id, BatchStatus.UNDISPATCHED)
        self.parent.tell(DispatchFailed(self.agent.instance_id, result.execution_id, result.busy))
