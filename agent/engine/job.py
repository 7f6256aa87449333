"""A whole job execution (JSR-352 11.1): job properties, job listeners around the navigation
of the elements, and the final batch status, exit status and restart position."""
from __future__ import annotations

from jsagent.api import BatchStatus
from jsagent.engine.errors import StepFailure, exit_status_of, traceback_text
from jsagent.engine.listeners import Listeners
from jsagent.engine.navigator import Navigator
from jsagent.engine.outcome import End
from jsagent.engine.refs import build_all
from jsagent.events import log_event


def _log_error(execution, message: str, exc: BaseException | None = None) -> None:
    text = None if exc is None or isinstance(exc, StepFailure) else traceback_text(exc)
    execution.emit(log_event(execution.execution_id, None, "ERROR", "jsagent.worker", message,
                             text))


def run_job(execution) -> tuple[str, str, str | None]:
    """Run the job; returns its final (status, exit status, restart position).

    Status is ``completed``, ``failed`` or ``stopped``. The exit status is the job context's
    (set by an artifact, a decision or a terminating transition: the last one wins), else the
    exit status of the step that failed or stopped the job (the text of an unhandled
    exception: ``ValueError: bad row``), else the batch status (``COMPLETED``). The restart
    position is None for a completed job.
    """
    job, context, restart = execution.job, execution.job_context, execution.restart
    start = restart.position if restart.active else None
    listeners = Listeners()
    execution.stop.watch_context(context)
    try:
        context.properties = execution.job_substitution.properties(job.properties)
        execution.job_substitution = execution.job_substitution.inner(context.properties)
        if restart.active and not job.restartable:
            raise StepFailure(f"JobRestartError: job {job.id} is not restartable")
        listeners = Listeners(build_all(job.listeners, "listener", execution.job_substitution,
                                        context, None))
        context.batch_status = BatchStatus.STARTED
        listeners.call("before_job")
        end = Navigator(execution).run(start)
    except BaseException as exc:  # noqa: BLE001 - a job listener or the engine failed
        _log_error(execution, f"job {job.id} failed: {exit_status_of(exc)}", exc)
        end = End(BatchStatus.FAILED, error=exit_status_of(exc), restart=start)
    execution.stop.unwatch_context(context)
    context.batch_status = end.batch_status
    failed = listeners.call_all("after_job")
    if failed is not None:
        _log_error(execution, f"after_job failed: {exit_status_of(failed)}", failed)
        end = End(BatchStatus.FAILED, error=exit_status_of(failed), restart=end.restart or start)
        context.batch_status = end.batch_status
    if context.exit_status is not None:
        exit_status = context.exit_status
    elif end.batch_status != BatchStatus.COMPLETED and end.error:
        exit_status = end.error
    else:
        exit_status = end.batch_status
    position = None if end.batch_status == BatchStatus.COMPLETED else (end.restart or start)
    return end.batch_status.lower(), exit_status, position
