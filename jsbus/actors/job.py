"""One Job actor per job with activity: it serialises every decision about that job.

In this version that is creating executions; overlap, exclusivity and restarts join it later.
The ControlBus stops it when it has been idle for ``dispatch.idle_job_actor`` seconds.
"""
from __future__ import annotations

import pykka

from jsbus.actors.base import SafeActor
from jsbus.actors.context import BusContext
from jsbus.actors.messages import Dispatch, Restart, Submit
from jsbus.control import check_exclusive, check_restart
from jsbus.errors import ExecutionNotFound
from jsbus.model import JobExecution


class JobActor(SafeActor):
    def __init__(self, app: str, job: str, context: BusContext, parent: pykka.ActorRef):
        super().__init__()
        self.app, self.job = app, job
        self.context = context
        self.parent = parent

    def on_submit(self, message: Submit) -> JobExecution:
        check_exclusive(self.context.storage, self.app, self.job)
        execution = self.context.storage.create_execution(
            self.app, self.job, message.parameters, self.context.clock())
        self.parent.tell(Dispatch())
        return execution

    def on_restart(self, message: Restart) -> JobExecution:
        """A new execution of the same job instance, ``unrestarted`` until dispatched."""
        storage = self.context.storage
        previous = storage.get_execution(message.execution_id, with_steps=False)
        if (previous.app, previous.job) != (self.app, self.job):
            raise ExecutionNotFound(message.execution_id)
        check_restart(storage, previous)
        execution = storage.create_execution(self.app, self.job, message.parameters,
                                             self.context.clock(), restart_of=previous.id)
        self.parent.tell(Dispatch())
        return execution
