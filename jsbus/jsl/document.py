"""The seed's JSON job document: ``{"id": "JOB-1", "steps": [{"id": "STEP-1", "batchlet":
{"ref": "example.Batchlet"}}]}``. Steps run in order; each is a batchlet in this version.

Validation collects every problem and names the element it is in, so one answer tells the user
everything that is wrong with the document.
"""
from __future__ import annotations

import re
from typing import Any

from jsbus.errors import JobDefinitionError
from jsbus.model import JobDefinition, StepDefinition

JOB_ID_PATTERN = re.compile(r"^[\w\-]+$")
REF_PATTERN = re.compile(r"^[A-Za-z_][\w.]*(:[A-Za-z_]\w*)?$")
JOB_KEYS = {"id", "steps", "restartable", "properties"}
STEP_KEYS = {"id", "batchlet", "properties", "next"}
BATCHLET_KEYS = {"ref", "properties"}


def _check_id(value: Any, where: str, problems: list[str]) -> None:
    if value is None or value == "":
        problems.append(f"{where} must be present")
    elif not isinstance(value, str) or not JOB_ID_PATTERN.match(value):
        problems.append(f"{where} must match {JOB_ID_PATTERN.pattern}")


def _check_keys(node: dict, allowed: set[str], where: str, problems: list[str]) -> None:
    for key in sorted(set(node) - allowed):
        problems.append(f"{where}: unknown key {key!r}")


def _properties(value: Any, where: str, problems: list[str]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f"{where} must be an object of names to values")
        return {}
    result = {}
    for name, item in value.items():
        if isinstance(item, (dict, list)) or item is None:
            problems.append(f"{where}.{name} must be a string, number or boolean")
        else:
            result[str(name)] = str(item).lower() if isinstance(item, bool) else str(item)
    return result


def _step(node: Any, where: str, problems: list[str]) -> StepDefinition | None:
    if not isinstance(node, dict):
        problems.append(f"{where} must be an object")
        return None
    _check_keys(node, STEP_KEYS, where, problems)
    _check_id(node.get("id"), f"{where}.id", problems)
    batchlet = node.get("batchlet")
    ref = None
    props = _properties(node.get("properties"), f"{where}.properties", problems)
    if not isinstance(batchlet, dict):
        problems.append(f"{where}.batchlet must be present (an object with a ref)")
    else:
        _check_keys(batchlet, BATCHLET_KEYS, f"{where}.batchlet", problems)
        ref = batchlet.get("ref")
        if not isinstance(ref, str) or not REF_PATTERN.match(ref):
            problems.append(f"{where}.batchlet.ref must be a class reference such as "
                            "'package.module.Class' or 'package.module:Class'")
        props.update(_properties(batchlet.get("properties"), f"{where}.batchlet.properties",
                                 problems))
    nxt = node.get("next")
    if nxt is not None and not isinstance(nxt, str):
        problems.append(f"{where}.next must be a step id")
    if not isinstance(node.get("id"), str) or ref is None:
        return None
    return StepDefinition(id=node["id"], batchlet_ref=ref, properties=props, next=nxt)


def _check_graph(steps: list[StepDefinition], problems: list[str]) -> None:
    ids = [step.id for step in steps]
    for step_id in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"steps: duplicate step id {step_id!r}")
    for step in steps:
        if step.next is not None and step.next not in ids:
            problems.append(f"step {step.id}: next {step.next!r} is not a step of this job")


def definition_from_document(document: Any) -> JobDefinition:
    """Validate a seed-form document; raise JobDefinitionError naming every problem."""
    if not isinstance(document, dict):
        raise JobDefinitionError("the job document must be an object")
    problems: list[str] = []
    _check_keys(document, JOB_KEYS, "job", problems)
    _check_id(document.get("id"), "id", problems)
    restartable = document.get("restartable", True)
    if not isinstance(restartable, bool):
        problems.append("restartable must be true or false")
    properties = _properties(document.get("properties"), "properties", problems)
    raw_steps = document.get("steps")
    steps: list[StepDefinition] = []
    if not isinstance(raw_steps, list) or not raw_steps:
        problems.append("steps must be a non-empty list")
    else:
        for index, node in enumerate(raw_steps):
            step = _step(node, f"steps[{index}]", problems)
            if step is not None:
                steps.append(step)
        _check_graph(steps, problems)
    if problems:
        raise JobDefinitionError(problems)
    return JobDefinition(id=document["id"], steps=tuple(steps), restartable=restartable,
                         properties=properties, document=document)


def normalized_document(definition: JobDefinition) -> dict[str, Any]:
    """The document agents receive (docs/protocol.md): steps in the order they run."""
    return {
        "id": definition.id,
        "restartable": definition.restartable,
        "properties": dict(definition.properties),
        "steps": [{"id": step.id,
                   "batchlet": {"ref": step.batchlet_ref, "properties": dict(step.properties)}}
                  for step in run_order(definition)],
    }


def run_order(definition: JobDefinition) -> list[StepDefinition]:
    """The first step, then each step's ``next`` (or the following one when it has none)."""
    by_id = {step.id: step for step in definition.steps}
    order, seen = [], set()
    index, step = 0, definition.steps[0] if definition.steps else None
    while step is not None and step.id not in seen:
        order.append(step)
        seen.add(step.id)
        if step.next is not None:
            step = by_id.get(step.next)
        else:
            index = definition.steps.index(step) + 1
            step = definition.steps[index] if index < len(definition.steps) else None
    return order
