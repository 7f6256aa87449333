"""Validation of the start command (``POST /executions``) into a ``StartCommand``, and the one
line of JSON the worker child reads first on its stdin (``docs/protocol.md``)."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from jsbus.errors import JobDefinitionError, ValidationError
from jsbus.jsl.codec import job_from_document
from jsbus.model import StartCommand


# RFC 3339 date-time (section 5.6): a full date, a time with seconds, an offset (Z or +hh:mm).
RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d+))?"
                     r"([Zz]|[+-]\d{2}:\d{2})")


def not_before_utc(value: Any) -> str:
    """``not-before`` as an RFC 3339 UTC time (``2026-11-28T22:24:55.123Z``; microseconds when
    given; a finer fraction is rounded up: never earlier than asked); ValueError when it is not
    an RFC 3339 time."""
    match = RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"not-before must be an RFC 3339 time, not {value!r}")
    date, clock, digits, offset = match.groups()
    digits = digits or ""
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        parsed = datetime.fromisoformat(f"{date}T{clock}.{(digits + '000000')[:6]}{offset}")
    except ValueError:
        raise ValueError(f"not-before must be an RFC 3339 time, not {value!r}") from None
    if digits[6:].strip("0"):
        parsed += timedelta(microseconds=1)
    text = parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return (text[:-3] if text.endswith("000") else text) + "Z"


def _problems_of(error: JobDefinitionError) -> list[str]:
    messages = getattr(error, "messages", None)
    if isinstance(messages, (list, tuple)) and messages:
        return [str(message) for message in messages]
    return [str(error)]


def _document_problem(problem: str) -> str:
    """A codec problem (``steps[0]: id must be present``) named from the body's top:
    ``document.steps[0]: id must be present``, ``document.steps must be a non-empty list...``."""
    where, sep, message = problem.partition(": ")
    if not sep:
        return f"document: {problem}"
    if where == "job":
        where = "document"
    elif where.startswith("steps"):
        where = f"document.{where}"
    else:
        where = f"document: {where}"
    return f"{where} {message}" if message.startswith("must") else f"{where}: {message}"


def _check_document(document: Any, messages: list[str]) -> None:
    if not isinstance(document, dict):
        messages.append("document is required and must be an object")
        return
    try:
        job_from_document(document)
    except JobDefinitionError as exc:
        messages.extend(_document_problem(problem) for problem in _problems_of(exc))


def _check_restart(restart: Any, messages: list[str]) -> None:
    if restart is None:
        return
    if not isinstance(restart, dict):
        messages.append("restart must be an object")
        return
    position = restart.get("position")
    if position is not None and not isinstance(position, str):
        messages.append("restart.position must be a string or null")
    for key in ("steps", "checkpoints"):
        value = restart.get(key, {})
        if value is not None and (not isinstance(value, dict) or not all(
                isinstance(entry, dict) for entry in value.values())):
            messages.append(f"restart.{key} must be an object of step names to objects")


def _check_fields(body: dict[str, Any], messages: list[str]) -> None:
    eid = body.get("execution-id")
    if eid is None:
        messages.append("execution-id is required")
    elif isinstance(eid, bool) or not isinstance(eid, int) or eid < 0:
        messages.append("execution-id must be a non-negative integer")
    for key in ("app", "job"):
        if not isinstance(body.get(key), str) or not body[key]:
            messages.append(f"{key} is required and must be a non-empty string")
    if not isinstance(body.get("parameters", {}), dict):
        messages.append("parameters must be an object")
    classpath = body.get("classpath", [])
    if not isinstance(classpath, list) or not all(isinstance(e, str) for e in classpath):
        messages.append("classpath must be a list of strings")
    _check_document(body.get("document"), messages)
    _check_restart(body.get("restart"), messages)
    if body.get("not-before") is not None:
        try:
            not_before_utc(body["not-before"])
        except ValueError as exc:
            messages.append(str(exc))
    attempt = body.get("attempt", 1)
    if attempt is not None and (isinstance(attempt, bool) or not isinstance(attempt, int)
                                or attempt < 1):
        messages.append("attempt must be a positive integer")


def parse_start_command(body: Any) -> StartCommand:
    """A ``StartCommand`` from a decoded JSON body; ``ValidationError`` names every bad field.

    ``document`` must read as a job (``jsbus.jsl.codec.job_from_document``); ``restart`` is
    optional (absent on a first run); ``not-before`` is optional (an RFC 3339 time, kept in
    UTC: the worker runs no job code before it); ``attempt`` is optional (absent: 1).
    """
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object")
    messages: list[str] = []
    _check_fields(body, messages)
    if messages:
        raise ValidationError(messages)
    parameters = {str(k): "" if v is None else str(v)
                  for k, v in (body.get("parameters") or {}).items()}
    return StartCommand(execution_id=body["execution-id"], app=body["app"], job=body["job"],
                        document=body["document"], parameters=parameters,
                        classpath=tuple(body.get("classpath") or ()),
                        restart=body.get("restart"),
                        builtins=tuple(b for b in body.get("builtins") or () if isinstance(b, str)),
                        not_before=None if body.get("not-before") is None
                        else not_before_utc(body["not-before"]),
                        attempt=body.get("attempt") or 1)


def command_json(command: StartCommand) -> bytes:
    """The start command as the worker reads it: ONE line of JSON (no newline inside; the
    agent ends the line and keeps stdin open for control lines)."""
    body: dict[str, Any] = {"execution-id": command.execution_id, "app": command.app,
                            "job": command.job, "document": command.document,
                            "parameters": command.parameters,
                            "classpath": list(command.classpath)}
    restart = getattr(command, "restart", None)
    if restart is not None:
        body["restart"] = restart
    not_before = getattr(command, "not_before", None)
    if not_before is not None:
        body["not-before"] = not_before
    builtins = getattr(command, "builtins", ())
    if builtins:
        body["builtins"] = list(builtins)
    return json.dumps(body, separators=(",", ":"), default=str).encode()
