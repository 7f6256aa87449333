"""Validation of the start command (``POST /executions``) into a ``StartCommand``."""
from __future__ import annotations

import json
from typing import Any

from jsbus.errors import ValidationError
from jsbus.model import StartCommand


def _check_steps(document: dict[str, Any], messages: list[str]) -> None:
    steps = document.get("steps")
    if not isinstance(steps, list) or not steps:
        messages.append("document.steps must be a non-empty list")
        return
    for index, step in enumerate(steps):
        where = f"document.steps[{index}]"
        if not isinstance(step, dict):
            messages.append(f"{where} must be an object")
            continue
        if not isinstance(step.get("id"), str) or not step["id"]:
            messages.append(f"{where}.id must be a non-empty string")
        batchlet = step.get("batchlet")
        if not isinstance(batchlet, dict) or not isinstance(batchlet.get("ref"), str) \
                or not batchlet["ref"]:
            messages.append(f"{where}.batchlet.ref must be a non-empty string")
        elif not isinstance(batchlet.get("properties", {}), dict):
            messages.append(f"{where}.batchlet.properties must be an object")


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
    document = body.get("document")
    if not isinstance(document, dict):
        messages.append("document is required and must be an object")
    else:
        _check_steps(document, messages)


def parse_start_command(body: Any) -> StartCommand:
    """A ``StartCommand`` from a decoded JSON body; ``ValidationError`` names every bad field."""
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
                        classpath=tuple(body.get("classpath") or ()))


def command_json(command: StartCommand) -> bytes:
    """The start command as the worker reads it on stdin."""
    return json.dumps({"execution-id": command.execution_id, "app": command.app,
                       "job": command.job, "document": command.document,
                       "parameters": command.parameters,
                       "classpath": list(command.classpath)}).encode()
