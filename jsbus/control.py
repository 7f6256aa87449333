"""Execution control on the bus: restart, stop, abandon (JSR-352's JobOperator, bus side).

Each rule is checked against storage and applied as a guarded transition, so two operators
pressing the same button at once change the state once.
"""
from __future__ import annotations

from jsbus.errors import Conflict
from jsbus.model import FINAL_STATUSES, WAITING_STATUSES, BatchStatus, JobExecution, utcnow
from jsbus.storage import Storage

RESTARTABLE = (BatchStatus.FAILED, BatchStatus.STOPPED)
STOPPABLE = (BatchStatus.QUEUED, BatchStatus.STARTING, BatchStatus.STARTED)


def check_exclusive(storage: Storage, app: str, job: str) -> None:
    """An exclusive job runs one execution at a time: a manual run waits for none (409)."""
    if storage.get_job(app, job).exclusive:
        active = storage.active_executions(app, job)
        if active:
            raise Conflict(f"job {job} is exclusive and execution {active[0].id} is "
                           f"{active[0].batch_status.value}")


def check_restart(storage: Storage, execution: JobExecution) -> None:
    """Raise Conflict unless ``execution`` may be restarted now (the specification's rules)."""
    job = storage.get_job(execution.app, execution.job)
    if not job.definition.restartable:
        raise Conflict(f"job {job.name} is not restartable (restartable=\"false\")")
    if execution.batch_status not in RESTARTABLE:
        raise Conflict(f"execution {execution.id} is {execution.batch_status.value}: only a "
                       "failed or stopped execution can be restarted")
    latest = storage.latest_instance_execution(execution.instance_id or execution.id)
    if latest.id != execution.id:
        raise Conflict(f"execution {execution.id} is not the latest of its job instance: "
                       f"restart execution {latest.id} instead")


def restart_data(storage: Storage, execution: JobExecution) -> dict | None:
    """The ``restart`` object of a start command (docs/protocol.md), or None for a first run.

    A restart (``restarted_from``) resumes where the execution before it left off. An
    execution the bus moved (``attempt`` > 1: its agent was lost or drained) resumes from its
    own steps too: those it completed are skipped, those it left running or stopped resume from
    their last checkpoint, and a step it left running is not counted as started again (the move
    is no new start for ``start-limit``). An execution moved before any step of its instance
    ran is a first run still (None)."""
    moved = execution.attempt > 1
    if execution.restarted_from is None and not moved:
        return None
    instance_id = execution.instance_id or execution.id
    steps: dict[str, dict] = {}
    for step in storage.instance_steps(instance_id):
        own = step.execution_id == execution.id
        if own and not moved:
            continue
        count = steps.get(step.step_name, {}).get("start-count", 0)
        if not own or step.batch_status is BatchStatus.COMPLETED:
            count += 1  # a step the move interrupted (left running, stopped) starts again
        steps[step.step_name] = {"batch-status": step.batch_status.value,
                                 "exit-status": step.exit_status, "start-count": count,
                                 "persistent-user-data": step.persistent_user_data,
                                 "metrics": dict(step.metrics)}
    checkpoints: dict[str, dict] = {}
    for point in storage.list_checkpoints(instance_id):
        checkpoints.setdefault(point.step_name, {})[str(point.partition)] = {
            "reader": point.reader, "writer": point.writer,
            "persistent-user-data": point.persistent_user_data,
            "metrics": dict(point.metrics), "done": point.done}
    if execution.restarted_from is None:
        if not steps and not checkpoints:
            return None  # nothing of it ran: a first run on its new agent
        return {"previous-execution": execution.id, "position": None, "steps": steps,
                "checkpoints": checkpoints}
    previous = storage.get_execution(execution.restarted_from, with_steps=False)
    return {"previous-execution": previous.id, "position": previous.restart_position,
            "steps": steps, "checkpoints": checkpoints}


def stop(storage: Storage, execution: JobExecution) -> tuple[JobExecution, bool]:
    """Stop now if it waits, else ask for ``stopping``; returns (execution, needs an agent)."""
    if execution.batch_status in WAITING_STATUSES:
        stopped = storage.transition_execution(execution.id, BatchStatus.STOPPED,
                                               end_time=utcnow(), exit_status="STOPPED")
        if stopped is not None:
            return stopped, False
    if execution.batch_status is BatchStatus.STOPPING:
        return execution, True
    if execution.batch_status in STOPPABLE or execution.batch_status in WAITING_STATUSES:
        stopping = storage.transition_execution(execution.id, BatchStatus.STOPPING)
        if stopping is not None:
            return stopping, True
    raise Conflict(f"execution {execution.id} is {execution.batch_status.value}: "
                   "there is nothing to stop")


def abandon(storage: Storage, execution: JobExecution) -> JobExecution:
    """Mark an execution that does not run as abandoned: it can never be restarted."""
    if execution.batch_status is BatchStatus.ABANDONED:
        return execution
    if execution.batch_status not in FINAL_STATUSES | WAITING_STATUSES:
        raise Conflict(f"execution {execution.id} is {execution.batch_status.value}: a running "
                       "execution cannot be abandoned; stop it first")
    abandoned = storage.transition_execution(execution.id, BatchStatus.ABANDONED,
                                             end_time=execution.end_time or utcnow())
    if abandoned is None:
        raise Conflict(f"execution {execution.id} changed status meanwhile; try again")
    return abandoned
