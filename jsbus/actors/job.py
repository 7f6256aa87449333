"""One Job actor per job with activity: it serialises every decision about that job.

In this version that is creating executions; overlap, exclusivity and restarts join it later.
The ControlBus stops it when it has been idle for ``dispatch.idle_job_actor`` seconds.
"""
from __future__ import annotations

import pykka

from jsbus.actors.base import SafeActor
from jsbus.actors.context import BusContext
from jsbus.actors.messages import Dispatch, Submit
from jsbus.model import JobExecution


class JobActor(SafeActor):
    def __init__(self, app: str, job: str, context: BusContext, parent: pykka.ActorRef):
        super().__init__()
        self.app, self.job = app, job
        self.context = context
        self.parent = parent

    def on_submit(self, message: Submit) -> JobExecution:
        execution = self.context.storage.create_execution(
            self.app, self.job, message.parameters, self.context.clock())
        self.parent.tell(Dispatch())
        return execution
