"""Data model -> the original's namespaced JSON keys (``job/name``, ``job-execution/...``)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from jsbus.model import (AgentInfo, Application, Calendar, FireSlot, Job, JobExecution, JobStats,
                         LogRecord, StepExecution)
from jsbus.wire import rfc3339




def application(app: Application) -> dict[str, Any]:
    return {"application/name": app.name, "application/description": app.description,
            "application/classpaths": list(app.classpath),
            "application/revision": app.revision}


def artifact(value) -> dict[str, Any]:
    return {"artifact/sha256": value.sha256, "artifact/filename": value.filename,
            "artifact/size": value.size, "artifact/kind": value.kind,
            "artifact/distribution": value.distribution, "artifact/version": value.version,
            "artifact/entry": value.entry}


def stats(value: JobStats) -> dict[str, Any]:
    return {"total": value.total, "success": value.success, "failure": value.failure,
            "average": round(value.average, 3)}


def job(value: Job) -> dict[str, Any]:
    return {"job/name": value.name, "job/app": value.app,
            "job/restartable?": value.definition.restartable,
            "job/steps": [step.id for step in value.definition.steps()]}


def log_record(record: LogRecord) -> dict[str, Any]:
    return {"execution-log/date": rfc3339(record.time),
            "execution-log/level": f"log-level/{record.level.lower()}",
            "execution-log/logger": record.logger, "execution-log/message": record.message,
            "execution-log/exception": record.exception}


def step(value: StepExecution, logs: list[LogRecord] = ()) -> dict[str, Any]:
    return {"step-execution/step-execution-id": value.id,
            "step-execution/metrics": dict(value.metrics),
            "step-execution/persistent-user-data": value.persistent_user_data,
            "step-execution/step-name": value.step_name,
            "step-execution/batch-status": value.batch_status.ident,
            "step-execution/start-time": rfc3339(value.start_time),
            "step-execution/end-time": rfc3339(value.end_time),
            "step-execution/exit-status": value.exit_status,
            "step-execution/logs": [log_record(r) for r in logs if r.step_name == value.step_name]}


def execution(value: JobExecution, logs: list[LogRecord] | None = None) -> dict[str, Any]:
    agent = None
    if value.agent_id:
        agent = {"agent/instance-id": value.agent_id, "agent/name": value.agent_name}
    body = {"job-execution/execution-id": value.id, "job-execution/app": value.app,
            "job-execution/job-name": value.job,
            "job-execution/batch-status": value.batch_status.ident,
            "job-execution/create-time": rfc3339(value.create_time),
            "job-execution/start-time": rfc3339(value.start_time),
            "job-execution/end-time": rfc3339(value.end_time),
            "job-execution/exit-status": value.exit_status,
            "job-execution/job-parameters": dict(value.job_parameters),
            "job-execution/agent": agent,
            "job-execution/job-instance-id": value.instance_id,
            "job-execution/restarted-from": value.restarted_from,
            "job-execution/attempt": value.attempt,
            "job-execution/restart-position": value.restart_position,
            "job-execution/slot": rfc3339(value.slot),
            "job-execution/revision": value.revision,
            "job-execution/not-before": rfc3339(value.not_before)}
    if logs is not None:
        body["job-execution/step-executions"] = [step(s, logs) for s in value.steps]
        body["job-execution/logs"] = [log_record(r) for r in logs if r.step_name is None]
    return body


def agent(value: AgentInfo) -> dict[str, Any]:
    return {"agent/instance-id": value.instance_id, "agent/name": value.name,
            "agent/host": value.host, "agent/port": value.port,
            "agent/agent-version": value.version, "agent/os-name": value.os_name,
            "agent/os-version": value.os_version, "agent/cpu-arch": value.cpu_arch,
            "agent/cpu-core": value.cpu_core, "agent/capacity": value.capacity,
            "agent/jobs": {"running": value.running}, "agent/stats": value.stats,
            "agent/status": value.status.value, "agent/last-seen": rfc3339(value.last_seen),
            "agent/blocked": value.blocked}


def agent_monitor(instance_id: str, kind: str,
                  samples: list[tuple[datetime, dict[str, Any]]]) -> dict[str, Any]:
    """One kind of an agent's stats history (``memory``, ``cpu``) as a series, oldest first."""
    return {"agent/instance-id": instance_id, "type": kind,
            "series": [{"time": rfc3339(time), "values": values[kind]}
                       for time, values in samples if values.get(kind)]}


def fire_slot(slot: FireSlot) -> dict[str, Any]:
    return {"fire-slot/time": rfc3339(slot.slot), "fire-slot/status": slot.status.value,
            "fire-slot/reason": slot.reason, "fire-slot/execution-id": slot.execution_id,
            "fire-slot/recorded-at": rfc3339(slot.recorded_at)}


def calendar(value: Calendar) -> dict[str, Any]:
    return {"calendar/name": value.name, "calendar/holidays": list(value.holidays),
            "calendar/weekly-holiday": list(value.weekly_holidays),
            "calendar/day-start": value.day_start}
