"""Runs jobs of the engine semantics tests the two ways an execution can run.

:func:`run_worker` runs the REAL worker child (``python -m jsagent.worker``) as the agent does:
the start command goes to stdin as one line and stdin stays open; events are read from the pipe
named by ``JSAGENT_EVENT_FD``; each checkpoint event is answered with ``{"ack": n}``; once the
final execution event arrived stdin is closed.

:class:`EngineAgent` is a REAL agent process (``python -m jsagent.cli``, discovery off) that
reports to a :class:`~tests.integration.fakebus.FakeBus`; :meth:`EngineAgent.run` posts the start
command to ``POST /executions`` under a fresh execution id, waits for that execution's final
event at the fake bus and returns the execution's events in ``seq`` order, without the agent's
own ``starting`` event and without ``seq``: the events the worker wrote, as the bus got them
(checkpoints there carry no ``ack``: the agent removes it).

Both return a :class:`Run`; :func:`restart` runs a restart the way the earlier run ran.
:func:`restart_from` builds the start command's ``restart`` object from earlier runs the way the
bus does (``jsbus.control.restart_data``).
"""
from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import httpx

from jsbus.launch import start_agent
from tests.integration.fakebus import FakeBus

APP_DIR = Path(__file__).parent
# Environment variables every worker gets, whichever way it runs (the agent's workers inherit
# the agent's environment): system properties the semantics tests read.
WORKER_ENV = {"ENGINE_TEST_HOME": "/srv/home"}


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
    """What one run did: the start command as run and the events of the execution."""

    command: dict
    events: list[dict] = field(default_factory=list)
    returncode: int | None = None  # of the worker run by run_worker; None on an agent
    stderr: str = ""  # of the worker run by run_worker (the agent's go to the bus as logs)
    mode: str = "worker"  # or "agent"
    runner: Callable[..., "Run"] | None = field(default=None, repr=False, compare=False)

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
               on_event: Callable[[dict, subprocess.Popen], None] | None = None,
               stop_when: Callable[[dict], bool] | None = None) -> Run:
    """Run one worker to its end; answers checkpoints unless ``ack`` is False. The first
    event ``stop_when`` accepts stops the job (SIGTERM to the worker, as the agent does)."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "jsagent.worker"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            pass_fds=(write_fd,), start_new_session=True,
                            env=dict(os.environ, **WORKER_ENV, JSAGENT_EVENT_FD=str(write_fd)))
    os.close(write_fd)
    killer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
    killer.start()
    run = Run(body, runner=run_worker)
    stopped = False
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
                if stop_when is not None and not stopped and stop_when(event):
                    stopped = True
                    proc.terminate()
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
    """Run the job of ``previous[-1]`` again as a restart of all ``previous`` runs, the way
    ``previous[-1]`` ran (on the worker or on the agent), as a new execution."""
    body = dict(previous[-1].command, restart=restart_from(*previous),
                parameters=parameters if parameters is not None
                else previous[-1].command["parameters"])
    body["execution-id"] = previous[-1].command["execution-id"] + 1
    return (previous[-1].runner or run_worker)(body)


class EngineAgent:
    """A real ``jsagent`` process on 127.0.0.1 (discovery off) reporting to a FakeBus; start it
    once and run many executions on it, one after another."""

    def __init__(self, work_dir: Path):
        self.bus = FakeBus()
        try:
            self.process, self.url = start_agent(work_dir, self.bus.url, name="engine-agent",
                                                 env=WORKER_ENV)
        except BaseException:
            self.bus.close()
            raise
        self.bus.wait_enrolled()  # commands must be signed by the bus the agent enrolled with
        self.http = httpx.Client(base_url=self.url, timeout=10, trust_env=False,
                                 auth=self.bus.auth())
        self._ids = itertools.count(1)

    def fresh_id(self) -> int:
        """An execution id this agent has not seen (it remembers every id it ran)."""
        return next(self._ids)

    def log(self) -> str:
        return self.process.output()[-4000:]

    def run(self, body: dict, timeout: float = 30,
            stop_when: Callable[[dict], bool] | None = None,
            execution_id: int | None = None) -> Run:
        """Run ``body`` under a fresh execution id (or ``execution_id``) to its end. The first
        event ``stop_when`` accepts stops the job (``PUT /executions/{id}/stop``: the agent
        sends SIGTERM to the worker) before the bus answers the batch that carried it."""
        execution_id = self.fresh_id() if execution_id is None else execution_id
        body = {**body, "execution-id": execution_id}
        stopped = threading.Event()
        errors: list[BaseException] = []

        def on_event(event: dict) -> None:  # on a FakeBus thread: errors are raised below
            try:
                if not stopped.is_set() and stop_when(event):
                    stopped.set()
                    self.stop(execution_id)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        if stop_when is not None:
            self.bus.watch(execution_id, on_event)
        try:
            answer = self.http.post("/executions", json=body)
            assert (answer.status_code, answer.json()) == (
                202, {"execution-id": execution_id, "accepted": True}), answer.text
            if not self.bus.has_final(execution_id, timeout):
                self.stop(execution_id)
                raise AssertionError(
                    f"execution {execution_id} did not end within {timeout} s; its events: "
                    f"{self.bus.execution_events(execution_id)}\nagent log:\n{self.log()}")
        finally:
            self.bus.unwatch(execution_id)
        if errors:
            raise errors[0]
        return Run(body, self.worker_events(execution_id), mode="agent", runner=self.run)

    def worker_events(self, execution_id: int) -> list[dict]:
        """The events of an execution the bus got, as the worker wrote them: without the
        agent's ``starting`` event (checked to come first) and without ``seq`` (checked to grow
        in the order the events arrived: the agent sends them in order, each once)."""
        events = self.bus.execution_events(execution_id)
        seqs = [event["seq"] for event in events]
        assert seqs == sorted(set(seqs)), f"execution {execution_id}: seq {seqs} arrived"
        statuses = [event["status"] for event in events if event["type"] == "execution"]
        assert statuses[:1] == ["starting"] and statuses.count("starting") == 1, statuses
        return [{key: value for key, value in event.items() if key != "seq"}
                for event in events[1:]]

    def stop(self, execution_id: int) -> None:
        answer = self.http.put(f"/executions/{execution_id}/stop")
        assert answer.status_code == 202, answer.text

    def close(self) -> int:
        """Stop the agent (SIGTERM) and the fake bus; the agent's exit code."""
        try:
            self.http.close()
            return self.process.stop()
        finally:
            self.bus.close()
