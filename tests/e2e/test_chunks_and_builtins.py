"""Chunk restarts across agents, stopping a chunk, parallel splits and partitions, and the
built-in batchlets, through real bus and agent processes."""
import shutil
import subprocess
from collections import Counter
from datetime import datetime

import pytest

from jsbus.launch import start_agent
from tests.e2e.helpers import (deploy, run_to_end, wait_for_agents, wait_for_status)
from tests.e2e.test_execution_control import command, register_document
from tests.e2e import api

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]


def chunk_job(job_id, out, marker, **reader):
    return {"id": job_id, "steps": [{"id": "numbers", "chunk": {
        "reader": {"ref": "e2e_batch.NumberReader",
                   "properties": {"marker": str(marker), **reader}},
        "writer": {"ref": "e2e_batch.LineWriter", "properties": {"path": str(out)}},
        "item-count": 100}}]}


def written(path):
    return Counter(int(line) for line in path.read_text().split())


def metrics(execution):
    return execution["job-execution/step-executions"][0]["step-execution/metrics"]


def test_chunk_failing_at_537_restarts_on_another_agent_from_its_checkpoint(running_bus,
                                                                            tmp_path):
    url = running_bus
    out, marker = tmp_path / "items.txt", tmp_path / "failed-once"
    first_agent, _ = start_agent(tmp_path, url, name="agent-a")
    try:
        wait_for_agents(url)
        deploy(url)
        register_document(url, chunk_job("NUMBERS", out, marker, count="1000", fail_at="537"))
        failed = run_to_end(url, "NUMBERS")
    finally:
        first_agent.stop()
    assert failed["job-execution/batch-status"] == "batch-status/failed"
    assert written(out) == Counter(range(1, 501)), "five chunks of 100 were committed"
    second_agent, _ = start_agent(tmp_path, url, name="agent-b")
    try:
        created = command(url, failed, "restart")
        assert created.status_code == 201, created.text
        done = wait_for_status(url + created.headers["location"])
    finally:
        second_agent.stop()
    assert done["job-execution/batch-status"] == "batch-status/completed"
    assert done["job-execution/agent"]["agent/name"] == "agent-b"
    assert failed["job-execution/agent"]["agent/name"] == "agent-a"
    counts = written(out)
    assert set(counts) == set(range(1, 1001)) and set(counts.values()) == {1}, \
        "items 501..1000 written exactly once by the restart"
    before, after = metrics(failed), metrics(done)
    assert before["write-count"] == 500 and after["write-count"] == 500
    assert after["read-count"] == 500
    assert before["commit-count"] >= 5 and after["commit-count"] >= 5
    assert before["rollback-count"] >= 1


def test_stop_a_running_chunk_then_restart_writes_every_item_once(running_bus, running_agent,
                                                                  tmp_path):
    url = running_bus
    out = tmp_path / "slow.txt"
    wait_for_agents(url)
    deploy(url)
    document = chunk_job("SLOW", out, tmp_path / "never", count="400", pause="0.01")
    document["steps"][0]["chunk"]["item-count"] = 10
    register_document(url, document)
    created = api.post(f"{url}/e2e/job/SLOW/executions", json={}, timeout=10)
    location = url + created.headers["location"]
    running = wait_for_status(location, "batch-status/started")
    assert command(url, running, "stop").status_code == 202
    stopped = wait_for_status(location)
    assert stopped["job-execution/batch-status"] == "batch-status/stopped"
    partial = written(out)
    assert 0 < len(partial) < 400 and set(partial.values()) == {1}
    restarted = command(url, stopped, "restart")
    done = wait_for_status(url + restarted.headers["location"])
    assert done["job-execution/batch-status"] == "batch-status/completed"
    counts = written(out)
    assert set(counts) == set(range(1, 401)) and set(counts.values()) == {1}


def duration(execution):
    start, end = (datetime.fromisoformat(execution[f"job-execution/{key}"].replace("Z", "+00:00"))
                  for key in ("start-time", "end-time"))
    return (end - start).total_seconds()


def test_splits_and_partitions_run_in_parallel_on_the_agent(running_bus, running_agent):
    url = running_bus
    wait_for_agents(url)
    deploy(url)
    nap = {"ref": "e2e_batch.Nap", "properties": {"seconds": "1.0"}}
    register_document(url, {"id": "FANOUT", "steps": [{"type": "split", "id": "fan", "flows": [
        {"type": "flow", "id": f"f{n}", "steps": [{"id": f"nap{n}", "batchlet": nap}]}
        for n in range(4)]}]})
    register_document(url, {"id": "PARTS", "steps": [{"id": "parts", "batchlet": nap,
                                                      "partition": {"plan": {"partitions": 4}}}]})
    split = run_to_end(url, "FANOUT")
    assert split["job-execution/batch-status"] == "batch-status/completed"
    assert len(split["job-execution/step-executions"]) == 4
    assert duration(split) < 2.5, "four 1 s flows in parallel, not 4 s in sequence"
    parts = run_to_end(url, "PARTS")
    assert parts["job-execution/batch-status"] == "batch-status/completed"
    assert duration(parts) < 2.5, "four 1 s partitions in parallel"


def test_shell_python_main_and_java_main_batchlets(running_bus, running_agent, tmp_path):
    url = running_bus
    wait_for_agents(url)
    deploy(url)
    enabled = api.put(f"{url}/app/e2e/builtins", json={"application/builtins": [
        "shell", "java-main"]}, timeout=10)  # an admin's setting: none by default
    assert enabled.status_code == 200, enabled.text
    steps = [
        {"id": "shell", "batchlet": {"ref": "shell", "properties": {
            "command": "sh -c 'echo hello from shell; exit 3'"}},
         "transitions": [{"on": "3", "action": "next", "to": "python"}]},
        {"id": "python", "batchlet": {"ref": "python-main", "properties": {
            "main": "e2e_batch:main_function", "args": "a b c"}}, "next": "java"}]
    javac = shutil.which("javac")
    if javac:
        (tmp_path / "Main.java").write_text(
            'public class Main { public static void main(String[] a) {'
            ' System.out.println("hello from java " + a.length); System.exit(10); } }')
        subprocess.run([javac, "-d", str(tmp_path), str(tmp_path / "Main.java")], check=True,
                       timeout=120)
        steps.append({"id": "java", "batchlet": {"ref": "java-main", "properties": {
            "main_class": "Main", "classpath": str(tmp_path), "args": "x y"}}})
    else:
        steps[1].pop("next")
    register_document(url, {"id": "BUILTINS", "steps": steps})
    execution = run_to_end(url, "BUILTINS")
    assert execution["job-execution/batch-status"] == "batch-status/completed"
    by_name = {s["step-execution/step-name"]: s for s in execution["job-execution/step-executions"]}
    assert by_name["shell"]["step-execution/exit-status"] == "3"
    assert by_name["python"]["step-execution/exit-status"] == "ARGS-3"
    logs = {name: [line["execution-log/message"] for line in step["step-execution/logs"]]
            for name, step in by_name.items()}
    assert "hello from shell" in logs["shell"]
    assert any("python-main got a b c" in line for line in logs["python"])
    if javac:
        assert by_name["java"]["step-execution/exit-status"] == "10"
        assert "hello from java 2" in logs["java"]
