"""One step element: the restart rules, then a step execution with its listeners.

Restart rules (JSR-352 10.8): a step that COMPLETED in an earlier execution of the job
instance is not run again unless ``allow-start-if-complete`` (the navigator then transitions
on its earlier exit status); a step started ``start-limit`` times already fails the job; a
FAILED or STOPPED step runs again from its last committed checkpoint; a step run again after
it completed starts from the beginning.

A step execution: ``step-started``; the StepContext (its properties resolved); the step
listeners' ``before_step``; the batchlet, the chunk or the partitions; every listener's
``after_step`` (also after a failure: it sees the batch status); ``step-ended`` with exit
status, metrics and persistent user data. The exit status is the last one an artifact set
(a batchlet's return value counts), else the batch status; a FAILED step whose exit status
nobody set reports the exception's text (``ValueError: bad row``) in its ``step-ended`` event,
while its transitions match ``FAILED``, as the specification says.
"""
from __future__ import annotations

from jsagent.api import BatchStatus, StepContext, StepExecution
from jsagent.engine.batchlet import run_batchlet
from jsagent.engine.chunk import ChunkRun
from jsagent.engine.errors import StepFailure, exit_status_of, traceback_text
from jsagent.engine.listeners import Listeners
from jsagent.engine.metrics import new_metrics, snapshot
from jsagent.engine.outcome import Done, End
from jsagent.engine.partition import PartitionedStep
from jsagent.engine.properties import Substitution
from jsagent.engine.refs import build, build_all
from jsagent.events import log_event, step_ended, step_started
from jsbus.jsl.model import Step


class StepRunner:
    def __init__(self, execution):
        self.execution = execution

    def run(self, step: Step) -> Done | End:
        restart = self.execution.restart
        previous = restart.status(step.id)
        if previous == BatchStatus.COMPLETED and not step.allow_start_if_complete:
            earlier = restart.execution(step.id)
            self._note(f"step {step.id} completed in an earlier execution: not run again")
            return Done(BatchStatus.COMPLETED, earlier.exit_status or BatchStatus.COMPLETED,
                        executions=[earlier])
        count = restart.start_count(step.id)
        if step.start_limit and count >= step.start_limit:
            message = (f"StartLimitExceeded: step {step.id} was started {count} time(s); "
                       f"its start-limit is {step.start_limit}")
            self._note(message, "ERROR")
            return End(BatchStatus.FAILED, error=message)
        return self._execute(step, fresh=previous in (None, BatchStatus.COMPLETED))

    def _note(self, message: str, level: str = "INFO") -> None:
        """A worker log line that belongs to no step execution."""
        execution = self.execution
        execution.emit(log_event(execution.execution_id, None, level, "jsagent.worker",
                                 message))

    def _initial_user_data(self, step: Step, fresh: bool):
        restart = self.execution.restart
        point = None if fresh else restart.checkpoint(step.id, -1)
        if point is not None and not step.partition:
            return point.get("persistent-user-data")
        return (restart.step(step.id) or {}).get("persistent-user-data")

    def _execute(self, step: Step, fresh: bool) -> Done:
        execution = self.execution
        execution.tag.step = step.id
        execution.emit(step_started(execution.execution_id, step.id))
        job_context = execution.job_context
        context = StepContext(step.id, batch_status=BatchStatus.STARTED, metrics=new_metrics(),
                              persistent_user_data=self._initial_user_data(step, fresh))
        execution.stop.watch_context(context)
        listeners, error = Listeners(), None
        try:
            context.properties = execution.job_substitution.properties(step.properties)
            scope = execution.job_substitution.inner(context.properties)
            listeners = Listeners(build_all(step.listeners, "listener", scope, job_context,
                                            context))
            listeners.call("before_step")
            status = self._body(step, context, scope, listeners, fresh)
        except BaseException as exc:  # noqa: BLE001 - any failure fails the step
            status, error = BatchStatus.FAILED, exc
        execution.stop.unwatch_context(context)
        context.batch_status = status
        failed = listeners.call_all("after_step")
        if failed is not None and error is None:
            status, error = BatchStatus.FAILED, failed
            context.batch_status = status
        exit_status = context.exit_status if context.exit_status is not None else status
        reported = exit_status
        if error is not None:
            context.exception = error
            cause = error.__cause__ if isinstance(error, StepFailure) else error
            if context.exit_status is None:
                reported = exit_status_of(error)
            execution.log("ERROR", f"step {step.id} failed: {exit_status_of(error)}",
                          traceback_text(cause or error))
        execution.emit(step_ended(execution.execution_id, step.id, status.lower(), reported,
                                  snapshot(context.metrics), context.persistent_user_data))
        execution.tag.step = None
        summary = StepExecution(step.id, status, exit_status, snapshot(context.metrics),
                                context.persistent_user_data, execution.execution_id)
        return Done(status, exit_status,
                    error=reported if status == BatchStatus.FAILED else None,
                    executions=[summary])

    def _body(self, step: Step, context: StepContext, scope: Substitution,
              listeners: Listeners, fresh: bool) -> str:
        execution = self.execution
        if execution.stop.requested:
            return BatchStatus.STOPPED
        if step.partition is not None:
            return PartitionedStep(execution, step, scope, execution.job_context, context,
                                   fresh).run()
        if step.batchlet is not None:
            batchlet = build(step.batchlet, "batchlet", scope, execution.job_context, context)
            return run_batchlet(execution, batchlet, context)
        point = None if fresh else execution.restart.checkpoint(step.id, -1)
        return ChunkRun(execution, step.id, step.chunk, scope, execution.job_context, context,
                        listeners, checkpoint=point).run()
