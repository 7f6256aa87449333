"""The real ``jsagent`` process on 127.0.0.1, reporting to a FakeBus (discovery off)."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import psutil
import pytest

from tests.integration.fakebus import FakeBus

APP_DIR = Path(__file__).parent / "agent_app"
LISTENING = re.compile(r"^jsagent (\S+) listening on http://(\S+):(\d+)$")


class AgentProcess:
    """``python -m jsagent.cli`` on 127.0.0.1 port 0, discovery off."""

    def __init__(self, bus: FakeBus, work_dir: Path, *extra: str, stop_grace: float = 5,
                 drain_grace: float = 0):
        bus_url = bus.url
        env = dict(os.environ, JSAGENT_HEARTBEAT_INTERVAL="0.3",
                   JSAGENT_STOP_GRACE=str(stop_grace), JSAGENT_DRAIN_GRACE=str(drain_grace))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jsagent.cli", "--bus", bus_url, "--bind", "127.0.0.1:0",
             "--no-discovery", "--work-dir", str(work_dir), "--name", "test-agent", *extra],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, text=True)
        self.log: list[str] = []
        self._listening = threading.Event()
        threading.Thread(target=self._read_log, daemon=True).start()
        assert self._listening.wait(30), "the agent did not start:\n" + "\n".join(self.log)
        bus.wait_enrolled(self.instance_id)  # commands must be signed by its bus
        self.http = httpx.Client(base_url=self.url, timeout=10, trust_env=False,
                                 auth=bus.auth(self.instance_id))

    def _read_log(self) -> None:
        for line in self.proc.stderr:
            self.log.append(line.rstrip("\n"))
            match = LISTENING.match(self.log[-1])
            if match:
                self.instance_id, host, port = match.groups()
                self.url = f"http://{host}:{port}"
                self.port = int(port)
                self._listening.set()

    def terminate(self, timeout: float = 30) -> int:
        self.http.close()
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def start_command(execution_id: int, *refs: str, parameters=None) -> dict:
    steps = [{"id": f"STEP-{n}", "batchlet": {"ref": ref, "properties": {}}}
             for n, ref in enumerate(refs, start=1)]
    return {"execution-id": execution_id, "app": "demo", "job": "JOB-1",
            "document": {"id": "JOB-1", "restartable": True, "properties": {}, "steps": steps},
            "parameters": parameters or {}, "classpath": [APP_DIR.as_uri()]}


def shape(events: list[dict]) -> list[tuple]:
    """The non-log events as (type, step, status)."""
    return [(e["type"], e.get("step"), e.get("status")) for e in events if e["type"] != "log"]


@pytest.fixture(scope="module")
def bus():
    fake = FakeBus()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def agent(bus, tmp_path_factory):
    process = AgentProcess(bus, tmp_path_factory.mktemp("agent"), "--capacity", "2")
    yield process
    try:
        assert process.terminate() == 0, "\n".join(process.log)
    finally:
        process.kill()


@pytest.mark.timeout(60)
def test_heartbeats_carry_the_agent_document(bus, agent):
    beat = bus.wait_for(lambda: bus.heartbeats and bus.heartbeats[-1])
    assert beat["agent/instance-id"] == agent.instance_id
    assert beat["agent/name"] == "test-agent"
    assert (beat["agent/host"], beat["agent/port"]) == ("127.0.0.1", agent.port)
    assert beat["agent/capacity"] == 2 and beat["agent/jobs"] == {"running": 0}
    for key in ("agent/agent-version", "agent/os-name", "agent/os-version", "agent/cpu-arch"):
        assert isinstance(beat[key], str) and beat[key]
    assert beat["agent/cpu-core"] >= 1
    stats = beat["agent/stats"]
    assert stats["memory"]["physical"]["total"] > 0 and "free" in stats["memory"]["swap"]
    assert set(stats["cpu"]["process"]) == {"load", "time"}
    assert set(stats["cpu"]["system"]) == {"load", "load-average"}
    assert agent.http.get("/spec").json()["agent/instance-id"] == agent.instance_id
    assert agent.http.get("/healthcheck").json() == {"status": "ok"}


@pytest.mark.timeout(60)
def test_a_two_step_job_runs_end_to_end(bus, agent):
    answer = agent.http.post("/executions", json=start_command(
        101, "agentapp_steps.Hello", "agentapp_steps.Shout", parameters={"name": "bus"}))
    assert (answer.status_code, answer.json()) == (202, {"execution-id": 101, "accepted": True})
    final = bus.final_event(101)
    assert (final["status"], final["exit-status"]) == ("completed", "COMPLETED")
    events = bus.execution_events(101)
    assert shape(events) == [
        ("execution", None, "starting"), ("execution", None, "started"),
        ("step-started", "STEP-1", None), ("step-ended", "STEP-1", "completed"),
        ("step-started", "STEP-2", None), ("step-ended", "STEP-2", "completed"),
        ("execution", None, "completed")]
    logs = [(e["step"], e["message"]) for e in events if e["type"] == "log"]
    assert ("STEP-1", "hello bus") in logs and ("STEP-2", "SHOUT") in logs
    assert ("STEP-1", "logged bus from STEP-1") in logs
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


@pytest.mark.timeout(60)
def test_a_worker_that_exits_hard_fails_and_the_agent_lives_on(bus, agent):
    assert agent.http.post("/executions", json=start_command(
        102, "agentapp_steps.HardExit")).status_code == 202
    final = bus.final_event(102)
    assert (final["status"], final["exit-status"]) == ("failed", "worker exited with code 7")
    events = bus.execution_events(102)
    assert shape(events)[-2:] == [("step-ended", "STEP-1", "failed"),
                                  ("execution", None, "failed")]
    assert events[-2]["exit-status"] == "worker exited with code 7"
    assert ("STEP-1", "about to exit hard") in [(e["step"], e["message"]) for e in events
                                               if e["type"] == "log"]
    assert agent.http.get("/healthcheck").status_code == 200


@pytest.mark.timeout(60)
def test_a_repeated_start_runs_once(bus, agent):
    command = start_command(103, "agentapp_steps.Hello")
    first = agent.http.post("/executions", json=command)
    again = agent.http.post("/executions", json=command)
    assert first.status_code == 202 and again.status_code == 200
    assert again.json() == first.json() == {"execution-id": 103, "accepted": True}
    bus.final_event(103)
    assert agent.http.post("/executions", json=command).status_code == 200
    # Events arrive in seq order: once 104 has finished, any second run of 103 would show.
    assert agent.http.post("/executions", json=start_command(
        104, "agentapp_steps.Hello")).status_code == 202
    bus.final_event(104)
    statuses = [e["status"] for e in bus.execution_events(103) if e["type"] == "execution"]
    assert statuses == ["starting", "started", "completed"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("body, expected", [
    (b"{not json", "the body is not valid JSON"),
    (b"[1, 2]", "the body must be a JSON object"),
    (json.dumps({"app": "demo"}).encode(), "execution-id is required"),
    (json.dumps({**start_command(1, "x.Y"), "execution-id": "seven"}).encode(),
     "execution-id must be a non-negative integer"),
    (json.dumps({**start_command(1, "x.Y"), "document": {"steps": []}}).encode(),
     "document.steps must be a non-empty list"),
    (json.dumps({**start_command(1, "x.Y"), "classpath": "file:///x"}).encode(),
     "classpath must be a list of strings"),
])
def test_a_bad_start_command_is_a_400_naming_the_problem(agent, body, expected):
    answer = agent.http.post("/executions", content=body,
                             headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert any(message.startswith(expected) for message in answer.json()["messages"])


@pytest.mark.timeout(60)
def test_stop_of_an_unknown_execution_is_404(agent):
    answer = agent.http.put("/executions/999999/stop")
    assert answer.status_code == 404 and answer.json()["messages"]


@pytest.mark.timeout(60)
def test_stop_ends_a_sleeping_batchlet_stopped(bus, agent):
    assert agent.http.post("/executions", json=start_command(
        105, "agentapp_steps.SleepUntilStopped", "agentapp_steps.Hello")).status_code == 202
    bus.wait_for(lambda: any(e["execution-id"] == 105 and e.get("message") == "sleeping"
                             for e in bus.events))
    answer = agent.http.put("/executions/105/stop")
    assert (answer.status_code, answer.json()) == (202, {"execution-id": 105})
    final = bus.final_event(105)
    assert (final["status"], final["exit-status"]) == ("stopped", "WOKEN")
    assert shape(bus.execution_events(105))[-2:] == [("step-ended", "STEP-1", "stopped"),
                                                     ("execution", None, "stopped")]


@pytest.mark.timeout(60)
def test_at_capacity_a_start_is_refused_with_503(bus, agent):
    for execution_id in (106, 107):
        assert agent.http.post("/executions", json=start_command(
            execution_id, "agentapp_steps.SleepUntilStopped")).status_code == 202
    refused = agent.http.post("/executions", json=start_command(108, "agentapp_steps.Hello"))
    assert refused.status_code == 503 and "capacity" in refused.json()["messages"][0]
    for execution_id in (106, 107):
        assert agent.http.put(f"/executions/{execution_id}/stop").status_code == 202
        assert bus.final_event(execution_id)["status"] == "stopped"
    assert agent.http.post("/executions", json=start_command(
        108, "agentapp_steps.Hello")).status_code == 202
    assert bus.final_event(108)["status"] == "completed"


@pytest.mark.timeout(60)
def test_events_refused_by_the_bus_are_resent_and_arrive_once_in_order(bus, agent):
    bus.fail_events(3)
    assert agent.http.post("/executions", json=start_command(
        109, "agentapp_steps.Hello", "agentapp_steps.Shout")).status_code == 202
    assert bus.final_event(109)["status"] == "completed"
    assert bus.rejected_batches >= 3
    seqs = [e["seq"] for e in bus.events]
    assert seqs == list(range(1, len(seqs) + 1))


@pytest.mark.timeout(60)
def test_the_instance_id_survives_a_restart_and_join_switches_the_bus(bus, tmp_path):
    first = AgentProcess(bus, tmp_path)
    try:
        assert first.terminate() == 0
    finally:
        first.kill()
    other_bus = FakeBus()
    second = AgentProcess(bus, tmp_path)
    try:
        assert second.instance_id == first.instance_id
        assert (tmp_path / "instance-id").read_text().strip() == first.instance_id
        # An enrolled agent takes a join only from the bus it enrolled with.
        refused = httpx.post(f"{second.url}/join", json={"bus-url": other_bus.url}, timeout=10,
                             trust_env=False)
        assert refused.status_code == 401, refused.text
        joined = second.http.post("/join", json={"bus-url": other_bus.url})
        assert joined.status_code == 200
        assert joined.json()["agent/instance-id"] == second.instance_id
        # It heartbeats there, signed for its own bus: a bus without its secret refuses them.
        other_bus.wait_for(lambda: other_bus.refused)
        assert not other_bus.heartbeats
        assert second.http.post("/join", json={"bus-url": "nope"}).status_code == 400
        assert second.terminate() == 0
    finally:
        second.kill()
        other_bus.close()


@pytest.mark.timeout(60)
def test_sigterm_stops_running_executions_and_flushes_their_events(tmp_path):
    bus = FakeBus()
    agent = AgentProcess(bus, tmp_path)
    try:
        assert agent.http.post("/executions", json=start_command(
            1, "agentapp_steps.SleepUntilStopped")).status_code == 202
        bus.wait_for(lambda: any(e.get("message") == "sleeping" for e in bus.events))
        assert agent.terminate() == 0, "\n".join(agent.log)
        final = bus.execution_events(1)[-1]
        assert (final["type"], final["status"], final["exit-status"], final["reason"]) == (
            "execution", "stopped", "WOKEN", "drain")
    finally:
        agent.kill()
        bus.close()


@pytest.mark.timeout(60)
def test_a_batchlet_that_ignores_stop_is_killed_after_the_grace(tmp_path):
    bus = FakeBus()
    agent = AgentProcess(bus, tmp_path, stop_grace=0.5)
    try:
        assert agent.http.post("/executions", json=start_command(
            1, "agentapp_steps.IgnoresStop")).status_code == 202
        bus.wait_for(lambda: any(e.get("message") == "ignoring stop" for e in bus.events))
        assert agent.http.put("/executions/1/stop").status_code == 202
        final = bus.final_event(1)
        assert (final["status"], final["exit-status"]) == ("stopped", "worker killed by signal 9")
        assert shape(bus.execution_events(1))[-2] == ("step-ended", "STEP-1", "stopped")
        pid = next(int(e["message"].split()[-1]) for e in bus.execution_events(1)
                   if e.get("message", "").startswith("child pid"))
        assert not psutil.pid_exists(pid) or \
            psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, "the worker's command was killed too"
        assert agent.http.get("/spec").json()["agent/jobs"] == {"running": 0}
        assert agent.terminate() == 0
    finally:
        agent.kill()
        bus.close()
