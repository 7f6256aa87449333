"""Event shapes of the bus <-> agent protocol (``docs/protocol.md``), shared by agent and worker.

The worker builds these without ``seq``; the agent's reporter numbers them. Nothing here does
I/O, so the worker can import it before it runs any application code.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

FINAL_EXECUTION_STATUSES = frozenset({"completed", "failed", "stopped"})
EVENT_TYPES = frozenset({"execution", "step-started", "step-ended", "checkpoint", "log"})


def now_iso() -> str:
    """The current UTC time in RFC 3339 with milliseconds: ``2026-11-28T22:24:55.123Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def execution_event(execution_id: int, status: str, exit_status: str | None = None,
                    restart_position: str | None = None) -> dict[str, Any]:
    """An ``execution`` event; final statuses carry their ``exit-status`` and
    ``restart-position`` (the element a restart begins at; None when the job completed)."""
    event = {"type": "execution", "execution-id": execution_id, "status": status}
    if status in FINAL_EXECUTION_STATUSES:
        event["exit-status"] = exit_status
        event["restart-position"] = restart_position
    event["time"] = now_iso()
    return event


def step_started(execution_id: int, step: str) -> dict[str, Any]:
    """A ``step-started`` event."""
    return {"type": "step-started", "execution-id": execution_id, "step": step, "time": now_iso()}


def step_ended(execution_id: int, step: str, status: str, exit_status: str | None,
               metrics: dict[str, int] | None = None,
               persistent_user_data: Any = None) -> dict[str, Any]:
    """A ``step-ended`` event: status (completed, failed, stopped), exit status, the step's
    ``metrics`` (None when not known) and its ``persistent-user-data``."""
    return {"type": "step-ended", "execution-id": execution_id, "step": step, "status": status,
            "exit-status": exit_status, "metrics": None if metrics is None else dict(metrics),
            "persistent-user-data": persistent_user_data, "time": now_iso()}


def checkpoint_event(execution_id: int, step: str, partition: int, reader: Any, writer: Any,
                     persistent_user_data: Any, metrics: dict[str, int], done: bool,
                     ack: int | None = None) -> dict[str, Any]:
    """A ``checkpoint`` event: a committed chunk, or (``done``) a partition that finished.

    The worker numbers it with ``ack`` and waits for ``{"ack": n}`` on its stdin; the agent
    removes ``ack`` before the event goes to the bus.
    """
    event = {"type": "checkpoint", "execution-id": execution_id, "step": step,
             "partition": partition, "reader": reader, "writer": writer,
             "persistent-user-data": persistent_user_data, "metrics": dict(metrics),
             "done": done, "time": now_iso()}
    if ack is not None:
        event["ack"] = ack
    return event


def log_event(execution_id: int, step: str | None, level: str, logger: str | None, message: str,
              exception: str | None = None, time: str | None = None) -> dict[str, Any]:
    """A ``log`` event; ``step`` is None for lines written outside any step."""
    return {"type": "log", "execution-id": execution_id, "step": step, "time": time or now_iso(),
            "level": level, "logger": logger, "message": message, "exception": exception}


def is_final(event: dict[str, Any]) -> bool:
    """True for the one event that ends an execution."""
    return event.get("type") == "execution" and event.get("status") in FINAL_EXECUTION_STATUSES
