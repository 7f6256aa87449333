"""The bus side of docs/protocol.md: agent documents and agent events, checked and converted."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from jsbus.errors import ValidationError
from jsbus.model import AgentInfo, BatchStatus

EXECUTION_EVENT_STATUSES = {BatchStatus.STARTING, BatchStatus.STARTED, BatchStatus.COMPLETED,
                            BatchStatus.FAILED, BatchStatus.STOPPED}
STEP_END_STATUSES = {BatchStatus.COMPLETED, BatchStatus.FAILED, BatchStatus.STOPPED}
LOG_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
MAX_TEXT = 65_536


@dataclass(frozen=True)
class Event:
    seq: int
    type: str
    execution_id: int
    time: datetime
    status: BatchStatus | None = None
    exit_status: str | None = None
    step: str | None = None
    level: str = "INFO"
    logger: str | None = None
    message: str = ""
    exception: str | None = None
    restart_position: str | None = None  # final execution events
    metrics: dict[str, int] | None = None  # step-ended, checkpoint
    persistent_user_data: Any = None  # step-ended, checkpoint
    partition: int = -1  # checkpoint
    reader: Any = None  # checkpoint
    writer: Any = None  # checkpoint
    done: bool = False  # checkpoint
    attempt: int = 1  # the execution's attempt the agent runs (absent: 1); fencing
    reason: str | None = None  # final execution events: "drain" when the agent was drained


def rfc3339(value: datetime | None) -> str | None:
    """UTC time as RFC 3339 with milliseconds: ``2026-11-28T22:24:55.123Z``."""
    if value is None:
        return None
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise ValidationError(f"{where} must be an RFC 3339 time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"{where} must be an RFC 3339 time, not {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _text(value: Any, where: str, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{where} must be a string")
    return value[:MAX_TEXT]


def _status(value: Any, allowed: set[BatchStatus], where: str) -> BatchStatus:
    try:
        status = BatchStatus(value)
    except ValueError:
        status = None
    if status not in allowed:
        names = ", ".join(sorted(s.value for s in allowed))
        raise ValidationError(f"{where} must be one of {names}")
    return status


def _metrics(value: Any, where: str) -> dict[str, int] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
            for k, v in value.items()):
        raise ValidationError(f"{where} must be an object of counter names to numbers")
    return value


def _checkpoint(raw: dict, common: dict, where: str) -> Event:
    partition = raw.get("partition", -1)
    if partition is None:
        partition = -1
    if not isinstance(partition, int) or isinstance(partition, bool) or partition < -1:
        raise ValidationError(f"{where}.partition must be a partition number (-1 for none)")
    return Event(**common, step=_text(raw.get("step"), f"{where}.step", required=True),
                 partition=partition, reader=raw.get("reader"), writer=raw.get("writer"),
                 persistent_user_data=raw.get("persistent-user-data"),
                 metrics=_metrics(raw.get("metrics"), f"{where}.metrics"),
                 done=bool(raw.get("done", False)))


def parse_event(raw: Any, where: str) -> Event:
    if not isinstance(raw, dict):
        raise ValidationError(f"{where} must be an object")
    kind = raw.get("type")
    execution_id = raw.get("execution-id")
    if not isinstance(execution_id, int) or isinstance(execution_id, bool):
        raise ValidationError(f"{where}.execution-id must be a number")
    seq = raw.get("seq", 0)
    attempt = raw.get("attempt", 1)
    if attempt is None:
        attempt = 1
    if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
        raise ValidationError(f"{where}.attempt must be a number from 1")
    common = dict(seq=seq if isinstance(seq, int) else 0, type=kind, execution_id=execution_id,
                  time=parse_time(raw.get("time"), f"{where}.time"), attempt=attempt)
    if kind == "execution":
        return Event(**common, status=_status(raw.get("status"), EXECUTION_EVENT_STATUSES,
                                              f"{where}.status"),
                     exit_status=_text(raw.get("exit-status"), f"{where}.exit-status"),
                     restart_position=_text(raw.get("restart-position"),
                                            f"{where}.restart-position"),
                     reason=_text(raw.get("reason"), f"{where}.reason"))
    if kind == "step-started":
        return Event(**common, step=_text(raw.get("step"), f"{where}.step", required=True))
    if kind == "step-ended":
        return Event(**common, step=_text(raw.get("step"), f"{where}.step", required=True),
                     status=_status(raw.get("status"), STEP_END_STATUSES, f"{where}.status"),
                     exit_status=_text(raw.get("exit-status"), f"{where}.exit-status"),
                     metrics=_metrics(raw.get("metrics"), f"{where}.metrics"),
                     persistent_user_data=raw.get("persistent-user-data"))
    if kind == "checkpoint":
        return _checkpoint(raw, common, where)
    if kind == "log":
        level = str(raw.get("level", "INFO")).upper()
        return Event(**common, step=_text(raw.get("step"), f"{where}.step"),
                     level=level if level in LOG_LEVELS else "INFO",
                     logger=_text(raw.get("logger"), f"{where}.logger"),
                     message=_text(raw.get("message", ""), f"{where}.message") or "",
                     exception=_text(raw.get("exception"), f"{where}.exception"))
    raise ValidationError(f"{where}.type must be execution, step-started, step-ended, "
                          "checkpoint or log")


def parse_events(body: dict[str, Any]) -> list[Event]:
    raw = body.get("events")
    if not isinstance(raw, list):
        raise ValidationError("events must be a list")
    return [parse_event(item, f"events[{index}]") for index, item in enumerate(raw)]


def parse_running(doc: dict[str, Any]) -> list[tuple[int, int]] | None:
    """A heartbeat's ``agent/executions``: the [execution id, attempt] pairs the agent runs;
    None when the heartbeat does not say (an agent of before attempts)."""
    raw = doc.get("agent/executions")
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise ValidationError("agent/executions must be a list of [execution id, attempt]")
    pairs = []
    for item in raw:
        if (not isinstance(item, (list, tuple)) or len(item) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in item)):
            raise ValidationError("agent/executions must be a list of [execution id, attempt]")
        pairs.append((item[0], item[1]))
    return pairs


def _int(doc: dict, key: str, default: int = 0) -> int:
    value = doc.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(f"{key} must be a number")
    return value


def agent_from_document(instance_id: str, doc: dict[str, Any], now: datetime) -> AgentInfo:
    """An agent document (heartbeat body) as AgentInfo; the path's id must match the body's."""
    body_id = doc.get("agent/instance-id", instance_id)
    if body_id != instance_id:
        raise ValidationError("agent/instance-id must match the instance id in the path")
    host = _text(doc.get("agent/host"), "agent/host", required=True)
    port = _int(doc, "agent/port")
    if not 0 < port < 65536:
        raise ValidationError("agent/port must be a TCP port number")
    jobs = doc.get("agent/jobs") or {}
    stats = doc.get("agent/stats") or {}
    if not isinstance(jobs, dict) or not isinstance(stats, dict):
        raise ValidationError("agent/jobs and agent/stats must be objects")
    return AgentInfo(
        instance_id=instance_id, name=_text(doc.get("agent/name"), "agent/name") or instance_id,
        host=host, port=port, version=_text(doc.get("agent/agent-version"), "agent/agent-version") or "",
        os_name=_text(doc.get("agent/os-name"), "agent/os-name") or "",
        os_version=_text(doc.get("agent/os-version"), "agent/os-version") or "",
        cpu_arch=_text(doc.get("agent/cpu-arch"), "agent/cpu-arch") or "",
        cpu_core=_int(doc, "agent/cpu-core"), capacity=max(1, _int(doc, "agent/capacity", 1)),
        running=_int(jobs, "running"), stats=stats, last_seen=now)
