"""Dry runs ("test executions"): a job run on the real engine with every component a no-op.

``no_op_job(job)`` keeps the job's shape (its steps, flows, splits, decisions, every ``next``
attribute and transition element, partition plans, start limits, properties) and replaces what
would run application code:

- each step's batchlet, and each chunk (reader, processor, writer, checkpoint algorithm), by
  :class:`NoOpBatchlet` (``process`` returns None: the step's exit status is ``COMPLETED``);
- every listener, job-level and step-level, is dropped;
- a partition's mapper becomes a one-partition plan (a plan is data and is kept as it is); its
  collector, analyzer and reducer are dropped;
- a decision's decider becomes :class:`PreviousExitStatus`: the exit status of the element
  before the decision (JSR-352 hands a decider those step executions), which is ``COMPLETED``
  in a dry run. The decision's transitions are then followed as written, so the dry run walks
  the path the job takes when every step completes; the other branches are checked statically
  by the bus (``jsbus.jsl.validation``: targets, loops, ids) and not run.

``run_dry(document, timeout)`` runs such a job in a child worker process (``python -m
jsagent.worker``, the one-execution worker, with no classpath: nothing of the application is
importable) and answers its outcome; a worker still running after ``timeout`` seconds is killed
with its process group and the dry run ends ``failed``.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import replace
from typing import Any

from jsagent.api import Batchlet, Decider
from jsbus.jsl.model import Decision, Flow, Job, Partition, PartitionPlan, Ref, Split, Step

NO_OP_BATCHLET = "jsagent.dryrun:NoOpBatchlet"
NO_OP_DECIDER = "jsagent.dryrun:PreviousExitStatus"
MAX_MESSAGES = 50  # error and warning lines kept in an outcome
DRY_RUN_EXECUTION_ID = 0  # the worker needs one; a dry run is no execution of the bus


class NoOpBatchlet(Batchlet):
    """Does nothing: the step completes with exit status ``COMPLETED``."""

    def process(self) -> None:
        return None


class PreviousExitStatus(Decider):
    """Decides what the element before the decision ended with (``COMPLETED`` if unknown)."""

    def decide(self, executions) -> str:
        for execution in reversed(list(executions)):
            if getattr(execution, "exit_status", None):
                return str(execution.exit_status)
        return "COMPLETED"


def _no_op_partition(partition: Partition | None) -> Partition | None:
    if partition is None:
        return None
    return Partition(plan=partition.plan or PartitionPlan(partitions=1))


def _no_op_element(element: Any) -> Any:
    if isinstance(element, Step):
        return replace(element, batchlet=Ref(NO_OP_BATCHLET), chunk=None, listeners=(),
                       partition=_no_op_partition(element.partition))
    if isinstance(element, Decision):
        return replace(element, decider=Ref(NO_OP_DECIDER))
    if isinstance(element, Flow):
        return replace(element, elements=tuple(_no_op_element(e) for e in element.elements))
    if isinstance(element, Split):
        return replace(element, flows=tuple(_no_op_element(f) for f in element.flows))
    return element


def no_op_job(job: Job) -> Job:
    """``job`` with every component a no-op and no listeners (see the module's text)."""
    return replace(job, listeners=(), elements=tuple(_no_op_element(e) for e in job.elements))


def _outcome(status: str, message: str | None = None, exception: str | None = None,
             **fields: Any) -> dict[str, Any]:
    return {"batch-status": status, "exit-status": fields.pop("exit_status", None),
            "steps": fields.pop("steps", []), "messages": [message] if message else [],
            "exception": exception, **fields}


def summarize(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The outcome of a dry run from its worker's events: its final status and exit status,
    the steps that ran (in the order they started), the error and warning lines, and the
    first exception text."""
    steps: dict[str, dict[str, Any]] = {}
    messages: list[str] = []
    exception = None
    final = None
    for event in events:
        kind = event.get("type")
        if kind == "step-started":
            steps.setdefault(event.get("step"), {"name": event.get("step"),
                                                 "batch-status": "started",
                                                 "exit-status": None,
                                                 "start-time": event.get("time"),
                                                 "end-time": None})
        elif kind == "step-ended" and event.get("step") in steps:
            steps[event["step"]].update({"batch-status": event.get("status"),
                                         "exit-status": event.get("exit-status"),
                                         "end-time": event.get("time")})
        elif kind == "log" and event.get("level") in ("ERROR", "CRITICAL", "WARNING"):
            if len(messages) < MAX_MESSAGES:
                messages.append(str(event.get("message")))
            exception = exception or event.get("exception")
        elif kind == "execution" and "exit-status" in event:
            final = event
    if final is None:
        return _outcome("failed", "the dry run's worker ended without a final status",
                        exception, steps=list(steps.values()))
    status = final.get("status")
    if status != "completed" and final.get("exit-status") and not messages:
        messages.append(f"the job ended {status}: {final['exit-status']}")
    return {"batch-status": status, "exit-status": final.get("exit-status"),
            "steps": list(steps.values()), "messages": messages, "exception": exception}


def run_dry(document: Any, timeout: float, python: str | None = None,
            cwd: str | None = None) -> dict[str, Any]:
    """Run the job ``document`` (the JSON form) with no-op components in a child worker; its
    outcome (``summarize``), ``failed`` when the document cannot be read or the run did not
    end within ``timeout`` seconds."""
    from jsbus.jsl.codec import job_from_document, job_to_document
    try:
        job = no_op_job(job_from_document(document))
    except Exception as exc:  # noqa: BLE001 - a bad document is the dry run's finding
        return _outcome("failed", f"the job document is not valid: {exc}")
    command = {"execution-id": DRY_RUN_EXECUTION_ID, "app": "", "job": job.id,
               "document": job_to_document(job), "parameters": {}, "classpath": []}
    return _run_worker(command, timeout, python or sys.executable, cwd)


def _run_worker(command: dict[str, Any], timeout: float, python: str,
                cwd: str | None) -> dict[str, Any]:
    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.Popen(
            [python, "-m", "jsagent.worker"], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, pass_fds=(write_fd,), cwd=cwd,
            env=dict(os.environ, JSAGENT_EVENT_FD=str(write_fd), PYTHONUNBUFFERED="1"),
            start_new_session=True)
    except OSError as exc:
        os.close(read_fd)
        return _outcome("failed", f"the dry run's worker could not start: {exc}")
    finally:
        os.close(write_fd)
    events: list[dict[str, Any]] = []

    def read() -> None:
        with os.fdopen(read_fd, "rb") as pipe:
            for line in pipe:
                try:
                    events.append(json.loads(line))
                except ValueError:
                    continue
    reader = threading.Thread(target=read, name="jsagent-dry-run-events", daemon=True)
    reader.start()
    timed_out = False
    try:
        # No newline after the command: the worker runs without a control channel.
        _, err = proc.communicate(json.dumps(command).encode(), timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        err = b""
    finally:
        if proc.poll() is None:
            _kill_group(proc.pid)
            proc.wait()
        if proc.stderr is not None and not proc.stderr.closed:
            proc.stderr.close()
    reader.join(5.0)  # the pipe closes when the worker's process group is gone
    if timed_out:
        outcome = summarize(events)
        return _outcome("failed", f"the dry run did not end within {timeout:g} s (a job that "
                                  f"waits or loops?); its worker was killed",
                        steps=outcome["steps"])
    outcome = summarize(events)
    if proc.returncode and outcome["batch-status"] == "completed":
        outcome = _outcome("failed", f"the dry run's worker exited with {proc.returncode}",
                           steps=outcome["steps"])
    if outcome["batch-status"] != "completed" and not outcome["exception"] and err.strip():
        outcome["exception"] = err.decode(errors="replace")[-4000:]
    return outcome


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
