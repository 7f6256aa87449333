"""A batchlet step (or one partition of one): ``process()``, with ``stop()`` on a stop."""
from __future__ import annotations

from typing import Any

from jsagent.api import BatchStatus, StepContext


def run_batchlet(execution, batchlet: Any, context: StepContext) -> str:
    """Run ``batchlet.process()``; returns the batch status. The return value becomes the
    step's exit status; an exception propagates (the caller fails the step)."""
    if not execution.stop.running(batchlet):
        return BatchStatus.STOPPED
    try:
        result = batchlet.process()
    finally:
        execution.stop.finished(batchlet)
    if result is not None:
        context.exit_status = str(result)
    return BatchStatus.STOPPED if execution.stop.requested else BatchStatus.COMPLETED
