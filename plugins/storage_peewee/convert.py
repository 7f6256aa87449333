"""Rows to ``jsbus.model`` dataclasses and back: the only place that knows both shapes."""
from __future__ import annotations

import functools
import json
from typing import Any, Iterable

from jsbus.jsl.codec import job_from_document, job_to_document
from jsbus.model import (AgentInfo, Application, Calendar, Checkpoint, FireSlot, Job,
                         JobDefinition, JobExecution, LogRecord, MonitorAction, Schedule,
                         StepExecution, TimeMonitor)


def definition_to_json(definition: JobDefinition) -> dict[str, Any]:
    """The job as its JSON form (``docs/jsl.md``): the ``job.definition`` column."""
    return job_to_document(definition)


def definition_from_json(data: dict[str, Any]) -> JobDefinition:
    return job_from_document(data)


def to_application(row) -> Application:
    return Application(name=row.name, description=row.description,
                       classpath=tuple(row.classpath or ()), created_at=row.created_at,
                       updated_at=row.updated_at, revision=row.revision,
                       builtins=tuple(getattr(row, "builtins", None) or ()))


@functools.lru_cache(maxsize=4096)
def parse_definition(text: str) -> JobDefinition:
    """A stored definition (its JSON text) as the model, parsed once per distinct text: the
    model is immutable, and a job's definition is read for every execution of it."""
    return definition_from_json(json.loads(text))


def to_job(row) -> Job:
    """``row.definition``: the parsed JSON, or its stored text (read raw: cached parse)."""
    definition = (parse_definition(row.definition) if isinstance(row.definition, str)
                  else definition_from_json(row.definition))
    return Job(app=row.app, name=row.name, definition=definition,
               created_at=row.created_at, updated_at=row.updated_at,
               exclusive=bool(row.exclusive), time_monitor=to_monitor(row.time_monitor))


def to_monitor(data) -> TimeMonitor | None:
    if not data:
        return None
    return TimeMonitor(duration=int(data["duration"]), action=MonitorAction(data["action"]),
                       notification_type=data.get("notification-type"))


def monitor_to_json(monitor: TimeMonitor | None):
    if monitor is None:
        return None
    return {"duration": monitor.duration, "action": monitor.action.value,
            "notification-type": monitor.notification_type}


def to_step(row) -> StepExecution:
    return StepExecution(id=row.id, execution_id=row.execution_id, step_name=row.step_name,
                         batch_status=row.batch_status, start_time=row.start_time,
                         end_time=row.end_time, exit_status=row.exit_status,
                         metrics=dict(row.metrics or {}),
                         persistent_user_data=row.persistent_user_data)


def to_execution(row, agent_name: str | None = None,
                 steps: Iterable[StepExecution] = ()) -> JobExecution:
    """``agent_name`` defaults to the ``agent_name`` column of a joined query, if any."""
    if agent_name is None:
        agent_name = getattr(row, "agent_name", None)
    return JobExecution(id=row.id, app=row.app, job=row.job, batch_status=row.batch_status,
                        job_parameters=dict(row.job_parameters or {}),
                        create_time=row.create_time, start_time=row.start_time,
                        end_time=row.end_time, exit_status=row.exit_status,
                        agent_id=row.agent_id, agent_name=agent_name, steps=tuple(steps),
                        instance_id=row.instance_id if row.instance_id is not None else row.id,
                        restart_position=row.restart_position,
                        restarted_from=row.restarted_from, not_before=row.not_before,
                        slot=row.slot, revision=row.revision,
                        attempt=getattr(row, "attempt", None) or 1)


def checkpoint_columns(checkpoint: Checkpoint) -> dict[str, Any]:
    """The columns of a checkpoint row but ``time`` (the caller stamps a missing one)."""
    return {"instance": checkpoint.instance_id, "step_name": checkpoint.step_name,
            "partition": checkpoint.partition, "reader": checkpoint.reader,
            "writer": checkpoint.writer, "persistent_user_data": checkpoint.persistent_user_data,
            "metrics": dict(checkpoint.metrics or {}), "done": bool(checkpoint.done),
            "execution": checkpoint.execution_id}


def to_checkpoint(row) -> Checkpoint:
    return Checkpoint(instance_id=row.instance_id, step_name=row.step_name,
                      partition=row.partition, reader=row.reader, writer=row.writer,
                      persistent_user_data=row.persistent_user_data,
                      metrics=dict(row.metrics or {}), done=bool(row.done),
                      execution_id=row.execution_id, time=row.time)


def log_columns(record: LogRecord) -> dict[str, Any]:
    return {"execution": record.execution_id, "step_name": record.step_name,
            "time": record.time, "level": record.level, "logger": record.logger,
            "message": record.message, "exception": record.exception}


def to_log(row) -> LogRecord:
    return LogRecord(execution_id=row.execution_id, time=row.time, level=row.level,
                     message=row.message, step_name=row.step_name, logger=row.logger,
                     exception=row.exception)


# AgentInfo fields and agent columns carry the same names.
_AGENT_FIELDS = ("instance_id", "name", "host", "port", "version", "os_name", "os_version",
                 "cpu_arch", "cpu_core", "capacity", "running", "stats", "status", "last_seen")


def agent_columns(agent: AgentInfo) -> dict[str, Any]:
    """The columns ``save_agent`` writes: all but ``blocked``, so that no heartbeat (nor a lease
    check that saves an agent it read before) ever undoes a block."""
    return {name: getattr(agent, name) for name in _AGENT_FIELDS}


def to_agent(row) -> AgentInfo:
    values = {name: getattr(row, name) for name in _AGENT_FIELDS}
    values["stats"] = dict(values["stats"] or {})
    return AgentInfo(**values, blocked=bool(row.blocked))


def calendar_columns(calendar: Calendar) -> dict[str, Any]:
    """The columns of a calendar row but its times (the caller stamps them)."""
    return {"name": calendar.name, "holidays": list(calendar.holidays),
            "weekly_holidays": [bool(day) for day in calendar.weekly_holidays],
            "day_start": calendar.day_start}


def to_calendar(row) -> Calendar:
    return Calendar(name=row.name, holidays=tuple(row.holidays or ()),
                    weekly_holidays=tuple(bool(day) for day in row.weekly_holidays or ()),
                    day_start=row.day_start, created_at=row.created_at,
                    updated_at=row.updated_at)


# Schedule fields and schedule columns carry the same names.
_SCHEDULE_FIELDS = ("app", "job", "cron", "time_zone", "calendar", "substitution",
                    "misfire_policy", "overlap_policy", "paused", "last_slot")


def schedule_columns(schedule: Schedule) -> dict[str, Any]:
    """The columns of a schedule row but its times (the caller stamps them)."""
    return {name: getattr(schedule, name) for name in _SCHEDULE_FIELDS}


def to_schedule(row) -> Schedule:
    values = {name: getattr(row, name) for name in _SCHEDULE_FIELDS}
    values["substitution"], values["paused"] = bool(row.substitution), bool(row.paused)
    return Schedule(**values, created_at=row.created_at, updated_at=row.updated_at)


def to_fire_slot(row) -> FireSlot:
    return FireSlot(app=row.app, job=row.job, slot=row.slot, status=row.status,
                    reason=row.reason, execution_id=row.execution_id,
                    recorded_at=row.recorded_at)
