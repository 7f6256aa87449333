"""Runs the REAL worker child (``python -m jsagent.worker``) as the agent does.

The start command goes to stdin as one line and stdin stays open; events are read from the pipe
named by ``JSAGENT_EVENT_FD``; each checkpoint event is answered with ``{"ack": n}``; once the
final execution event arrived stdin is closed. :func:`restart_from` builds the start command's
``restart`` object from earlier runs the way the bus does (``jsbus.control.restart_data``).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

APP_DIR = Path(__file__).parent


def step(step_id: str, ref: str | None = None, **extra: Any) -> dict:
    """A step element; ``ref`` makes it a batchlet step, ``props`` its batchlet properties."""
    props = extra.pop("props", None)
    element = {"id": step_id}
    if ref is not None:
        element["batchlet"] = {"ref": ref, **({"properties": props} if props else {})}
    element.update({key.replace("_", "-"): value for key, value in extra.items()})
    return element


def command(steps: list[dict], parameters: dict | None = None, execution_id: int = 1,
            restart: dict | None = None, **job: Any) -> dict:
    document = {"id": job.pop("job_id", "JOB"), "steps": steps}
    document.update({key.replace("_", "-"): value for key, value in job.items()})
    body = {"execution-id": execution_id, "app": "engine", "job": document["id"],
            "document": document, "parameters": parameters or {},
            "classpath": [APP_DIR.as_uri()]}
    if restart is not None:
        body["restart"] = restart
    return body


@dataclass
class Run:
    """What one worker run did."""

    command: dict
    events: list[dict] = field(default_factory=list)
    returncode: int | None = None
    stderr: str = ""

    def of(self, kind: str) -> list[dict]:
        return [event for event in self.events if event["type"] == kind]

    @property
    def final(self) -> dict:
        return self.events[-1]

    @property
    def status(self) -> str:
        return self.final["status"]

    @property
    def exit_status(self) -> str:
        return self.final["exit-status"]

    @property
    def started(self) -> list[str]:
        """The steps started, in order."""
        return [event["step"] for event in self.of("step-started")]

    @property
    def ended(self) -> dict[str, dict]:
        return {event["step"]: event for event in self.of("step-ended")}

    def messages(self, prefix: str = "", step: Any = ...) -> list[str]:
        """Log messages (starting with ``prefix``; of ``step`` unless it is ...)."""
        return [event["message"] for event in self.of("log")
                if event["message"].startswith(prefix) and (step is ... or event["step"] == step)]


def run_worker(body: dict, timeout: float = 30, ack: bool = True,
               on_event: Callable[[dict, subprocess.Popen], None] | None = None) -> Run:
    """Run one worker to its end; answers checkpoints unless ``ack`` is False."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "jsagent.worker"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            pass_fds=(write_fd,), start_new_session=True,
                            env=dict(os.environ, JSAGENT_EVENT_FD=str(write_fd)))
    os.close(write_fd)
    killer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
    killer.start()
    run = Run(body)
    try:
        proc.stdin.write((json.dumps(body) + "\n").encode())
        proc.stdin.flush()
        with os.fdopen(read_fd, "rb") as pipe:
            for line in pipe:
                event = json.loads(line)
                run.events.append(event)
                if event["type"] == "checkpoint" and ack and not proc.stdin.closed:
                    proc.stdin.write((json.dumps({"ack": event["ack"]}) + "\n").encode())
                    proc.stdin.flush()
                if on_event is not None:
                    on_event(event, proc)
                if event["type"] == "execution" and "exit-status" in event:
                    proc.stdin.close()
        run.returncode = proc.wait(timeout)
        run.stderr = proc.stderr.read().decode()
    finally:
        killer.cancel()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stderr.close()
        if not proc.stdin.closed:
            proc.stdin.close()
    assert run.returncode == 0, run.stderr
    return run


def restart_from(*runs: Run) -> dict:
    """The ``restart`` object for a run after ``runs`` (oldest first), as the bus makes it."""
    steps: dict[str, dict] = {}
    checkpoints: dict[str, dict] = {}
    for run in runs:
        for event in run.events:
            if event["type"] == "step-ended":
                count = steps.get(event["step"], {}).get("start-count", 0) + 1
                steps[event["step"]] = {
                    "batch-status": event["status"], "exit-status": event["exit-status"],
                    "start-count": count, "metrics": event["metrics"],
                    "persistent-user-data": event["persistent-user-data"]}
            elif event["type"] == "checkpoint":
                checkpoints.setdefault(event["step"], {})[str(event["partition"])] = {
                    key: event[key] for key in ("reader", "writer", "persistent-user-data",
                                                "metrics", "done")}
    last = runs[-1]
    return {"previous-execution": last.command["execution-id"],
            "position": last.final["restart-position"], "steps": steps,
            "checkpoints": checkpoints}


def restart(previous: list[Run], parameters: dict | None = None) -> Run:
    """Run the job of ``previous[-1]`` again as a restart of all ``previous`` runs."""
    body = dict(previous[-1].command, restart=restart_from(*previous),
                parameters=parameters if parameters is not None
                else previous[-1].command["parameters"])
    body["execution-id"] = previous[-1].command["execution-id"] + 1
    return run_worker(body)
