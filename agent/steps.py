"""Inside the worker: resolve a batchlet ref, build the batchlet and run one step."""
from __future__ import annotations

import importlib
import re
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from jsagent.api import JobContext, StepContext


@dataclass
class StepOutcome:
    """How one step ended: ``status`` is completed, failed or stopped."""

    status: str
    exit_status: str
    traceback: str | None = None


def resolve_ref(ref: str) -> Any:
    """The object named by ``package.module.Class`` or ``package.module:Class``.

    Raises ImportError or AttributeError as Python does, ValueError for a malformed ref.
    """
    if ":" in ref:
        module_name, _, attr_path = ref.partition(":")
    else:
        module_name, _, attr_path = ref.rpartition(".")
    if not module_name or not attr_path:
        raise ValueError(f"batchlet ref {ref!r} is not 'package.module.Class' "
                         f"or 'package.module:Class'")
    target: Any = importlib.import_module(module_name)
    for part in attr_path.split("."):
        target = getattr(target, part)
    return target


def exit_status_of(exc: BaseException) -> str:
    """``"<ExceptionType>: <message>"``; ``"SystemExit: <code>"`` for ``sys.exit``."""
    if isinstance(exc, SystemExit):
        return f"SystemExit: {exc.code}"
    return f"{type(exc).__name__}: {exc}"


def build_batchlet(step: dict[str, Any], job: JobContext) -> Any:
    """Instantiate the step's batchlet and set its properties, parameters and contexts."""
    spec = step.get("batchlet") or {}
    properties = dict(spec.get("properties") or {})
    batchlet = resolve_ref(spec.get("ref", ""))()
    batchlet.job_context = job
    batchlet.step_context = StepContext(step_name=step["id"], properties=properties)
    batchlet.job_parameters = dict(job.parameters)
    for name, value in properties.items():
        setattr(batchlet, name, value)
        identifier = re.sub(r"\W", "_", name)
        if identifier != name and identifier.isidentifier():
            setattr(batchlet, identifier, value)
    return batchlet


def failure(exc: BaseException) -> StepOutcome:
    """The outcome of a step that raised ``exc``."""
    text = "".join(traceback.format_exception(exc)).rstrip("\n")
    return StepOutcome("failed", exit_status_of(exc), text)


def call_process(batchlet: Any, stop_requested: Callable[[], bool]) -> StepOutcome:
    """Run ``batchlet.process()``; a stop asked for meanwhile makes the step ``stopped``."""
    try:
        result = batchlet.process()
    except BaseException as exc:  # noqa: BLE001 - sys.exit and friends fail the step too
        return failure(exc)
    exit_status = None if result is None else str(result)
    if stop_requested():
        return StepOutcome("stopped", exit_status or "STOPPED")
    return StepOutcome("completed", exit_status or "COMPLETED")
