"""Stopping: SIGTERM or the end of stdin calls a running batchlet's stop() and ends a chunk at
its chunk boundary; the job then ends STOPPED and restarts where it was (runtime 11.13,
docs/protocol.md). On an agent the stop is ``PUT /executions/{id}/stop`` (the agent sends the
worker SIGTERM)."""
from __future__ import annotations

import pytest

from tests.integration.engine_app.harness import command, restart, run_worker, step


def stop_on(message: str, count: int = 1):
    """A ``stop_when``: stop the job once ``count`` log lines equal to ``message`` came."""
    seen = []

    def stop_when(event) -> bool:
        if event["type"] == "log" and event["message"] == message:
            seen.append(event)
        return len(seen) >= count
    return stop_when


@pytest.mark.timeout(30)
def test_sigterm_calls_stop_on_the_running_batchlet_and_the_job_stops_there(run_job):
    run = run_job(command([step("wait", "eapp_batchlets.WaitForStop", next="after"),
                           step("after", "eapp_batchlets.Exit")]),
                  stop_when=stop_on("waiting"))
    assert run.messages("stop() called", step="wait") == ["stop() called"]
    assert (run.ended["wait"]["status"], run.ended["wait"]["exit-status"]) == (
        "stopped", "WOKEN")
    assert run.started == ["wait"]
    # the job's exit status is that of the step that stopped it (nothing else set one)
    assert (run.status, run.exit_status, run.final["restart-position"]) == (
        "stopped", "WOKEN", "wait")


@pytest.mark.timeout(30)
def test_the_end_of_stdin_stops_the_job_as_the_agent_is_gone():
    # worker only: an agent closes its workers' stdin only when it is gone itself
    def close_stdin(event, proc):
        if event["type"] == "log" and event["message"] == "waiting":
            proc.stdin.close()
    run = run_worker(command([step("wait", "eapp_batchlets.WaitForStop")]),
                     on_event=close_stdin)
    assert run.messages("stop() called") == ["stop() called"]
    assert run.status == "stopped"


@pytest.mark.timeout(30)
def test_sigterm_stops_a_chunk_at_the_chunk_boundary_and_a_restart_goes_on_from_there(
        run_job, tmp_path):
    out = tmp_path / "items.txt"
    load = {"id": "load", "chunk": {
        "reader": {"ref": "eapp_chunk.NumberReader",
                   "properties": {"count": "100", "block_at": "#{jobParameters['block']}",
                                  "remember": "yes"}},
        "writer": {"ref": "eapp_chunk.FileWriter", "properties": {"path": str(out)}},
        "item-count": 10}}
    first = run_job(command([load], parameters={"block": "25"}),
                    stop_when=stop_on("blocking at 25"))
    # the current item is finished and the chunk in progress (21..25) written and committed
    assert first.messages("write ") == [f"write {list(range(1, 11))}",
                                        f"write {list(range(11, 21))}",
                                        f"write {list(range(21, 26))}"]
    assert [p["reader"] for p in first.of("checkpoint")] == [10, 20, 25]
    assert first.ended["load"]["status"] == "stopped"
    assert first.ended["load"]["metrics"]["commit-count"] == 3
    assert (first.status, first.final["restart-position"]) == ("stopped", "load")
    assert first.of("checkpoint")[-1]["persistent-user-data"] == {"read": 25}
    second = restart([first], parameters={"block": ""})
    assert second.messages("reader open") == ["reader open 25"]
    assert second.messages("user data") == ["user data {'read': 25}"]  # from the checkpoint
    assert second.status == "completed"
    assert out.read_text().split() == [str(n) for n in range(1, 101)]


@pytest.mark.timeout(30)
def test_a_stop_reaches_every_flow_of_a_split_and_the_split_is_the_restart_position(run_job):
    flows = [{"type": "flow", "id": f"f{n}",
              "steps": [step(f"w{n}", "eapp_batchlets.WaitForStop")]} for n in range(2)]
    run = run_job(command([{"type": "split", "id": "fan", "flows": flows, "next": "after"},
                           step("after", "eapp_batchlets.Exit")]),
                  stop_when=stop_on("waiting", count=2))
    assert {run.ended[f"w{n}"]["status"] for n in range(2)} == {"stopped"}
    assert (run.status, run.final["restart-position"]) == ("stopped", "fan")
    assert "after" not in run.started


@pytest.mark.timeout(30)
def test_a_stop_calls_stop_on_each_running_partition(run_job):
    work = {"id": "work", "batchlet": {"ref": "eapp_batchlets.WaitForStop"},
            "partition": {"plan": {"partitions": 3}}}
    run = run_job(command([work]), stop_when=stop_on("waiting", count=3))
    assert run.messages("stop() called", step="work") == ["stop() called"] * 3
    assert run.ended["work"]["status"] == "stopped" and run.status == "stopped"
    assert not [p for p in run.of("checkpoint") if p["done"]]
    assert run.final["restart-position"] == "work"
