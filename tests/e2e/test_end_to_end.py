"""Real ``jsbus serve`` and ``jsagent`` processes on loopback, real HTTP, real child processes."""
import pytest

from tests.e2e.helpers import deploy, register, run_to_end, wait_for_agents
from tests.e2e import api

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def steps(execution):
    return [(s["step-execution/step-name"], s["step-execution/batch-status"],
             s["step-execution/exit-status"]) for s in execution["job-execution/step-executions"]]


def test_two_step_job_completes_on_the_agent(running_bus, running_agent):
    url = running_bus
    agent = wait_for_agents(url)[0]
    deploy(url)
    register(url, "TWO-STEPS", ["e2e_batch.Greet", "e2e_batch:Count"])
    execution = run_to_end(url, "TWO-STEPS", params={"day": "2026-11-28"})
    assert execution["job-execution/batch-status"] == "batch-status/completed"
    assert execution["job-execution/exit-status"] == "COMPLETED"
    assert steps(execution) == [("STEP-1", "batch-status/completed", "GREETED"),
                                ("STEP-2", "batch-status/completed", "COMPLETED")]
    assert execution["job-execution/agent"]["agent/instance-id"] == agent["agent/instance-id"]
    for key in ("create-time", "start-time", "end-time"):
        assert execution[f"job-execution/{key}"], key
    greet_logs = [line["execution-log/message"]
                  for line in execution["job-execution/step-executions"][0]["step-execution/logs"]]
    assert any("Hello from pid" in line for line in greet_logs), greet_logs
    job = api.get(f"{url}/e2e/job/TWO-STEPS", timeout=10).json()
    assert job["job/stats"]["total"] == 1 and job["job/stats"]["success"] == 1
    assert job["job/latest-execution"]["job-execution/batch-status"] == "batch-status/completed"
    recent = api.get(f"{url}/agent/{agent['agent/instance-id']}", timeout=10).json()
    assert [e["job-execution/execution-id"] for e in recent["agent/executions"]] == \
        [execution["job-execution/execution-id"]]


def test_failing_batchlet_fails_the_execution_with_the_error(running_bus, running_agent):
    url = running_bus
    wait_for_agents(url)
    deploy(url)
    register(url, "FAILS", ["e2e_batch.Greet", "e2e_batch.Boom", "e2e_batch.Count"])
    execution = run_to_end(url, "FAILS")
    assert execution["job-execution/batch-status"] == "batch-status/failed"
    assert steps(execution)[:2] == [
        ("STEP-1", "batch-status/completed", "GREETED"),
        ("STEP-2", "batch-status/failed", "RuntimeError: boom: the batchlet failed on purpose")]
    assert len(steps(execution)) == 2, "a step after a failed one must not run"
    failed_logs = execution["job-execution/step-executions"][1]["step-execution/logs"]
    assert any("Traceback" in (line["execution-log/exception"] or "") for line in failed_logs)
    job = api.get(f"{url}/e2e/job/FAILS", timeout=10).json()
    assert job["job/stats"]["failure"] == 1


def test_a_worker_that_exits_the_interpreter_fails_and_the_agent_lives_on(running_bus,
                                                                          running_agent):
    url = running_bus
    wait_for_agents(url)
    deploy(url)
    register(url, "EXITS", ["e2e_batch.HardExit"])
    register(url, "IMPORTS", ["no_such_module.Batchlet"])
    exited = run_to_end(url, "EXITS")
    assert exited["job-execution/batch-status"] == "batch-status/failed"
    assert "exited with code 7" in steps(exited)[0][2]
    missing = run_to_end(url, "IMPORTS")
    assert missing["job-execution/batch-status"] == "batch-status/failed"
    assert "ModuleNotFoundError" in steps(missing)[0][2]
    register(url, "AFTER", ["e2e_batch.Count"])
    assert run_to_end(url, "AFTER")["job-execution/batch-status"] == "batch-status/completed"
    assert running_agent.popen.poll() is None


def test_work_spreads_over_two_agents_and_nothing_is_lost(running_bus, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from jsbus.launch import start_agent
    url = running_bus
    agents = [start_agent(tmp_path, url, name=f"agent-{n}", extra=["--capacity", "1"])[0]
              for n in (1, 2)]
    try:
        wait_for_agents(url, count=2)
        deploy(url)
        register(url, "NAPS", ["e2e_batch.Nap"])
        with ThreadPoolExecutor(6) as pool:
            executions = list(pool.map(lambda _: run_to_end(url, "NAPS"), range(6)))
        assert {e["job-execution/batch-status"] for e in executions} == {"batch-status/completed"}
        used = {e["job-execution/agent"]["agent/name"] for e in executions}
        assert used == {"agent-1", "agent-2"}
        listed = api.get(f"{url}/e2e/job/NAPS/executions", params={"limit": 100}).json()
        assert listed["hits"] == 6
    finally:
        for agent in agents:
            agent.stop()
