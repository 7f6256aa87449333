"""The agent's pool of reusable workers, held scheduled executions and the batch endpoint, on
real agent processes (zygote on) reporting to a FakeBus.

Two application directories hold a module of the same name (``poolapp``); its ``Where``
batchlet prints the pid of the worker that runs it.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from jsbus.launch import wait_until
from tests.integration.realagent import Agent, alive, command, rfc3339, seconds, write_pool_app


@pytest.fixture(scope="module")
def apps(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pool-apps")
    return {name: write_pool_app(root / f"app-{name}", name) for name in ("a", "b")}


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    process = Agent(tmp_path_factory.mktemp("pool-agent"), "pool-agent")
    try:
        yield process
    finally:
        code = process.close()
    assert code == 0, process.log()[-3000:]


class Runs:
    """Runs ``poolapp`` batchlets of one application on an agent under fresh execution ids."""

    ids = iter(range(1000, 100_000))

    def __init__(self, agent: Agent, app_dir: Path):
        self.agent, self.app_dir = agent, app_dir

    def run(self, ref: str, **extra) -> tuple[int, list[dict]]:
        execution_id = next(self.ids)
        events = self.agent.run(command(self.app_dir, execution_id, f"poolapp.{ref}", **extra))
        assert events[-1]["status"] == "completed", events
        return execution_id, events

    def where(self) -> dict:
        execution_id, _ = self.run("Where")
        _, pid, app, cwd, mark = self.agent.message(execution_id, "where ").split()
        return {"pid": int(pid), "app": app, "cwd": cwd, "mark": mark}

    def pid_after(self, ref: str) -> int:
        """Run ``ref`` (it prints ``leaving <pid> ...``); the pid of its worker."""
        execution_id, _ = self.run(ref)
        return int(self.agent.message(execution_id, "leaving ").split()[1])


@pytest.mark.timeout(60)
def test_an_app_reuses_its_worker_and_apps_never_share_one(agent, apps):
    a, b = Runs(agent, apps["a"]), Runs(agent, apps["b"])
    first_a, second_a = a.where(), a.where()
    first_b, second_b = b.where(), b.where()
    assert first_a["pid"] == second_a["pid"] and first_b["pid"] == second_b["pid"]
    assert first_a["pid"] != first_b["pid"]
    assert (first_a["app"], first_b["app"]) == ("a", "b")  # each imported its own poolapp


@pytest.mark.timeout(60)
def test_the_working_directory_and_the_environment_are_put_back_after_a_run(agent, apps):
    runs = Runs(agent, apps["a"])
    before = runs.where()
    runs.run("Meddle")
    after = runs.where()
    assert after["pid"] == before["pid"]
    assert (after["cwd"], after["mark"]) == (before["cwd"], "-") and after["cwd"] != "/"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("ref", ["LeaveThread", "LeaveChild"])
def test_a_run_that_leaves_a_thread_or_a_process_running_retires_its_worker(agent, apps, ref):
    runs = Runs(agent, apps["a"])
    runs.where()
    retired = runs.pid_after(ref)
    wait_until(lambda: not alive(retired), 10, what="the worker to end")
    assert runs.where()["pid"] != retired


@pytest.mark.timeout(60)
def test_output_written_straight_to_the_descriptors_belongs_to_its_execution(agent, apps):
    runs = Runs(agent, apps["a"])
    raw, events = runs.run("RawOutput")
    after, next_events = runs.run("RawOutput")
    for execution_id, found in ((raw, events), (after, next_events)):
        logs = {(e["logger"], e["message"]) for e in found if e["type"] == "log"}
        assert {("stdout", "raw line"), ("stdout", "from a subprocess"),
                ("stderr", "raw error"), ("stdout", "no newline at the end")} <= logs, found
        assert len([e for e in found if e["type"] == "log"]) == 4, found


@pytest.mark.timeout(60)
def test_the_worker_of_a_stopped_execution_is_replaced(agent, apps):
    runs = Runs(agent, apps["a"])
    runs.where()
    execution_id = next(Runs.ids)
    agent.start(command(apps["a"], execution_id, "poolapp.Sleep"))
    sleeper = int(agent.message(execution_id, "sleeping ").split()[1])
    agent.stop(execution_id)
    final = agent.bus.final_event(execution_id)
    assert (final["status"], final["exit-status"]) == ("stopped", "WOKEN")
    wait_until(lambda: not alive(sleeper), 10, what="the stopped worker to end")
    assert runs.where()["pid"] != sleeper


@pytest.mark.timeout(60)
def test_an_idle_worker_that_dies_is_replaced(agent, apps):
    runs = Runs(agent, apps["b"])
    victim = runs.where()["pid"]
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: not alive(victim), 10, what="the worker to die")
    assert runs.where()["pid"] != victim
    # either the agent saw the end first, or it handed the next execution to the dead worker,
    # saw that nothing of it began, and gave it to another one
    assert "ended while idle" in agent.log() or "ended before it began" in agent.log()


@pytest.mark.timeout(60)
def test_start_commands_in_a_batch_are_answered_each_in_order(agent, apps):
    ids = [next(Runs.ids) for _ in range(3)]
    held = rfc3339(time.time() + 60)
    body = {"executions": [
        command(apps["a"], ids[0], "poolapp.Where"),
        {**command(apps["a"], ids[1], "poolapp.Where"), "app": ""},
        command(apps["b"], ids[2], "poolapp.Where", not_before=held),
        command(apps["a"], ids[0], "poolapp.Where"),
        {"no": "execution id"}]}
    answer = agent.http.post("/executions/batch", json=body)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [(r["execution-id"], r["status"]) for r in results] == [
        (ids[0], 202), (ids[1], 400), (ids[2], 202), (ids[0], 200), (None, 400)]
    assert results[1]["messages"] == ["app is required and must be a non-empty string"]
    assert "messages" not in results[0] and "messages" not in results[3]
    assert agent.bus.final_event(ids[0])["status"] == "completed"
    agent.stop(ids[2])
    assert agent.bus.final_event(ids[2])["exit-status"] == "STOPPED"
    assert agent.bus.execution_events(ids[1]) == []
    for bad in ([], {"executions": {}}, {"executions": "x"}):
        refused = agent.http.post("/executions/batch", json=bad)
        assert refused.status_code == 400 and refused.json()["messages"], refused.text


@pytest.mark.timeout(60)
def test_http_connections_are_kept_alive(agent, apps):
    with httpx.Client(base_url=agent.url, timeout=10, trust_env=False,
                      auth=agent.bus.auth()) as client:
        answers = [client.get("/healthcheck"), client.get("/spec"),
                   client.post("/executions/batch", json={"executions": []}),
                   client.put("/executions/999999/stop"), client.get("/nowhere")]
        ports = {a.extensions["network_stream"].get_extra_info("client_addr")[1]
                 for a in answers}
    assert [a.status_code for a in answers] == [200, 200, 200, 404, 404]
    assert all(a.http_version == "HTTP/1.1" for a in answers)
    assert len(ports) == 1, ports


@pytest.mark.timeout(90)
def test_reuse_limit_idle_timeout_holds_and_capacity(apps, tmp_path):
    """No spare workers here: a worker starts only for an execution that needs one."""
    agent = Agent(tmp_path, "small-agent", JSAGENT_WORKER_REUSE="2", JSAGENT_WORKER_IDLE="1",
                  JSAGENT_WORKER_SPARE="0", JSAGENT_CAPACITY="2")
    try:
        runs = Runs(agent, apps["a"])
        pids = [runs.where()["pid"] for _ in range(3)]
        assert pids[0] == pids[1] != pids[2]  # two executions each
        wait_until(lambda: not alive(pids[2]), 15, what="the idle worker to be retired")
        wait_until(lambda: agent.zygote().children() == [], 10, what="no worker left")
        ids = [next(Runs.ids) for _ in range(2)]
        due = seconds(rfc3339(time.time() + 2.5))
        for execution_id in ids:
            agent.start(command(apps["a"], execution_id, "poolapp.Where",
                                not_before=rfc3339(due)))
        full = agent.http.post("/executions/batch", json={"executions": [
            command(apps["a"], next(Runs.ids), "poolapp.Where")]}).json()["results"]
        assert full[0]["status"] == 503 and "capacity" in full[0]["messages"][0]
        wait_until(lambda: time.time() >= due - 1.2, 5, interval=0.01)
        assert agent.zygote().children() == [], "held executions have no worker yet"
        for execution_id in ids:
            assert agent.bus.final_event(execution_id)["status"] == "completed"
            started = next(e for e in agent.events(execution_id) if e.get("status") == "started")
            assert due <= seconds(started["time"]) < due + 0.5
    finally:
        code = agent.close()
    assert code == 0, agent.log()[-3000:]


@pytest.mark.timeout(60)
def test_shutdown_ends_held_executions_stopped(apps, tmp_path):
    agent = Agent(tmp_path, "held-agent")
    try:
        agent.start(command(apps["a"], 1, "poolapp.Where", not_before=rfc3339(time.time() + 60),
                            restart={"previous-execution": 0, "position": "STEP-1"}))
        agent.bus.wait_for(lambda: agent.bus.execution_events(1))
    finally:
        code = agent.close()
    assert code == 0, agent.log()[-3000:]
    final = agent.bus.execution_events(1)[-1]
    assert (final["status"], final["exit-status"], final["restart-position"]) == (
        "stopped", "STOPPED", "STEP-1")
