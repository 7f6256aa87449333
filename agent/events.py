"""Event shapes of the bus <-> agent protocol (``docs/protocol.md``), shared by agent and worker.

The worker builds these without ``seq``; the agent's reporter numbers them. Nothing here does
I/O, so the worker can import it before it runs any application code.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

FINAL_EXECUTION_STATUSES = frozenset({"completed", "failed", "stopped"})
EVENT_TYPES = frozenset({"execution", "step-started", "step-ended", "log"})


def now_iso() -> str:
    """The current UTC time in RFC 3339 with milliseconds: ``2026-11-28T22:24:55.123Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def execution_event(execution_id: int, status: str,
                    exit_status: str | None = None) -> dict[str, Any]:
    """An ``execution`` event; final statuses carry their ``exit-status``."""
    event = {"type": "execution", "execution-id": execution_id, "status": status}
    if status in FINAL_EXECUTION_STATUSES:
        event["exit-status"] = exit_status
    event["time"] = now_iso()
    return event


def step_started(execution_id: int, step: str) -> dict[str, Any]:
    """A ``step-started`` event."""
    return {"type": "step-started", "execution-id": execution_id, "step": step, "time": now_iso()}


def step_ended(execution_id: int, step: str, status: str,
               exit_status: str | None) -> dict[str, Any]:
    """A ``step-ended`` event with its status (completed, failed, stopped) and exit status."""
    return {"type": "step-ended", "execution-id": execution_id, "step": step, "status": status,
            "exit-status": exit_status, "time": now_iso()}


def log_event(execution_id: int, step: str | None, level: str, logger: str | None, message: str,
              exception: str | None = None, time: str | None = None) -> dict[str, Any]:
    """A ``log`` event; ``step`` is None for lines written outside any step."""
    return {"type": "log", "execution-id": execution_id, "step": step, "time": time or now_iso(),
            "level": level, "logger": logger, "message": message, "exception": exception}


def is_final(event: dict[str, Any]) -> bool:
    """True for the one event that ends an execution."""
    return event.get("type") == "execution" and event.get("status") in FINAL_EXECUTION_STATUSES
