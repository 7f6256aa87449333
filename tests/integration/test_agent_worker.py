"""The worker child (``python -m jsagent.worker``) run for real on the test application."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.workerrun import run_worker

APP_DIR = Path(__file__).parent / "agent_app"


def start_command(*refs: str, execution_id: int = 7, parameters=None, properties=None) -> dict:
    """A start command with one step per batchlet ref (STEP-1, STEP-2, ...)."""
    properties = properties or {}
    steps = [{"id": f"STEP-{n}", "batchlet": {"ref": ref, "properties": properties.get(n, {})}}
             for n, ref in enumerate(refs, start=1)]
    return {"execution-id": execution_id, "app": "demo", "job": "JOB-1",
            "document": {"id": "JOB-1", "restartable": True, "properties": {}, "steps": steps},
            "parameters": parameters or {}, "classpath": [APP_DIR.as_uri()]}


def of_type(events: list[dict], kind: str) -> list[dict]:
    return [event for event in events if event["type"] == kind]


@pytest.mark.timeout(60)
def test_two_steps_succeed_with_print_and_logging_lines():
    command = start_command("agentapp_steps.Hello", "agentapp_steps:Shout",
                            parameters={"name": "world"},
                            properties={1: {"greeting": "hi"}, 2: {"exit_status": "LOUD"}})
    events, proc = run_worker(command)
    assert proc.returncode == 0, proc.stderr
    assert [(e["type"], e.get("step"), e.get("status")) for e in events if e["type"] != "log"] == [
        ("execution", None, "started"), ("step-started", "STEP-1", None),
        ("step-ended", "STEP-1", "completed"), ("step-started", "STEP-2", None),
        ("step-ended", "STEP-2", "completed"), ("execution", None, "completed")]
    ended = of_type(events, "step-ended")
    assert [e["exit-status"] for e in ended] == ["COMPLETED", "LOUD"]
    assert events[-1]["exit-status"] == "COMPLETED"
    logs = {(e["step"], e["logger"], e["level"], e["message"]) for e in of_type(events, "log")}
    assert ("STEP-1", "stdout", "INFO", "hi world") in logs
    assert ("STEP-1", "agentapp", "INFO", "logged world from STEP-1") in logs
    assert ("STEP-2", "stderr", "WARNING", "SHOUT") in logs
    assert ("STEP-2", "agentapp", "WARNING", "shouting in JOB-1") in logs
    assert all(e["execution-id"] == 7 and e["time"].endswith("Z") for e in events)
    assert all("seq" not in e for e in events)


@pytest.mark.timeout(60)
def test_a_raising_step_fails_the_execution_and_later_steps_do_not_run():
    events, proc = run_worker(start_command("agentapp_steps.Boom", "agentapp_steps.Hello"))
    assert proc.returncode == 0, proc.stderr
    assert [e["step"] for e in of_type(events, "step-started")] == ["STEP-1"]
    (ended,) = of_type(events, "step-ended")
    assert (ended["status"], ended["exit-status"]) == ("failed", "ValueError: boom")
    errors = [e for e in of_type(events, "log") if e["level"] == "ERROR"]
    assert len(errors) == 1 and errors[0]["step"] == "STEP-1"
    assert "Traceback" in errors[0]["exception"] and "ValueError: boom" in errors[0]["exception"]
    assert (events[-1]["status"], events[-1]["exit-status"]) == ("failed", "ValueError: boom")


@pytest.mark.timeout(60)
def test_sys_exit_fails_the_step_with_its_code():
    events, proc = run_worker(start_command("agentapp_steps.ExitThree"))
    assert proc.returncode == 0, proc.stderr
    assert of_type(events, "step-ended")[0]["exit-status"] == "SystemExit: 3"
    assert (events[-1]["status"], events[-1]["exit-status"]) == ("failed", "SystemExit: 3")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("ref, error", [
    ("agentapp_steps.NoSuchClass", "AttributeError: "),
    ("no_such_module.Thing", "ModuleNotFoundError: No module named 'no_such_module'"),
    ("agentapp_broken.Anything", "RuntimeError: this module is broken"),
    ("NoDots", "ValueError: batchlet ref 'NoDots'"),
])
def test_a_ref_that_cannot_be_resolved_fails_the_step(ref, error):
    events, proc = run_worker(start_command(ref))
    assert proc.returncode == 0, proc.stderr
    (ended,) = of_type(events, "step-ended")
    assert ended["status"] == "failed" and ended["exit-status"].startswith(error)
    assert events[-1]["status"] == "failed"
    assert events[-1]["exit-status"] == ended["exit-status"]


@pytest.mark.timeout(60)
def test_sigterm_calls_stop_and_the_execution_ends_stopped():
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "jsagent.worker"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            pass_fds=(write_fd,),
                            env=dict(os.environ, JSAGENT_EVENT_FD=str(write_fd)))
    os.close(write_fd)
    proc.stdin.write(json.dumps(start_command("agentapp_steps.SleepUntilStopped",
                                              "agentapp_steps.Hello")).encode())
    proc.stdin.close()
    events = []
    with os.fdopen(read_fd, "rb") as pipe:
        for line in pipe:
            events.append(json.loads(line))
            if events[-1].get("message") == "sleeping":
                proc.terminate()
    assert proc.wait(30) == 0
    (ended,) = of_type(events, "step-ended")
    assert (ended["status"], ended["exit-status"]) == ("stopped", "WOKEN")
    assert (events[-1]["type"], events[-1]["status"]) == ("execution", "stopped")
