"""How an execution element ended, as the navigator sees it."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from jsagent.api import StepExecution


@dataclass
class Done:
    """The element finished and the job goes on by its transitions.

    ``exit_status`` is what transitions match; ``error`` the text of an unhandled exception
    (a FAILED step); ``executions`` what a following decision's decider receives.
    """

    batch_status: str
    exit_status: str
    error: str | None = None
    executions: list[StepExecution] = field(default_factory=list)


@dataclass
class End:
    """The job execution ends: ``batch_status`` COMPLETED (end), FAILED or STOPPED.

    ``error`` is the job's exit status when nothing set one: the exit status of the step that
    failed or stopped the job (for a failure nobody handled, the exception's text);
    ``restart`` the element a restart begins at (set by a stop transition, else by the
    navigator: the top-level element that was running).
    """

    batch_status: str
    error: str | None = None
    restart: str | None = None


def pattern_matches(pattern: str, exit_status: str | None) -> bool:
    """An ``on`` pattern: ``*`` matches any run of characters, ``?`` exactly one."""
    regex = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char)
                    for char in pattern)
    return re.fullmatch(regex, exit_status or "", re.DOTALL) is not None
