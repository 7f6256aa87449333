"""Restarts in the real worker: the restart position, completed steps, allow-start-if-complete,
start-limit, checkpoints and persistent user data (JSL 8.2, runtime 10.8)."""
from __future__ import annotations

import pytest

from tests.integration.engine_app.harness import command, restart, step

EXIT = "eapp_batchlets.Exit"
FAIL_IF_ASKED = {"fail": "#{jobParameters['fail']}?:no;"}


def fails_if_asked(step_id: str, **extra) -> dict:
    return step(step_id, "eapp_batchlets.Fail", props=FAIL_IF_ASKED, **extra)


@pytest.mark.timeout(60)
def test_a_chunk_failing_at_item_537_restarts_from_its_checkpoint_and_writes_each_item_once(
        run_job, tmp_path):
    out = tmp_path / "items.txt"
    load = {"id": "load", "chunk": {
        "reader": {"ref": "eapp_chunk.NumberReader",
                   "properties": {"count": "1000", "fail_at": "#{jobParameters['fail_at']}"}},
        "writer": {"ref": "eapp_chunk.FileWriter", "properties": {"path": str(out)}},
        "item-count": 100}}
    first = run_job(command([load], parameters={"fail_at": "537"}))
    assert (first.status, first.exit_status, first.final["restart-position"]) == (
        "failed", "ValueError: read failed at item 537", "load")
    assert [p["reader"] for p in first.of("checkpoint")] == [100, 200, 300, 400, 500]
    assert out.read_text().split() == [str(n) for n in range(1, 501)]
    one = first.ended["load"]["metrics"]
    assert (one["read-count"], one["write-count"], one["commit-count"],
            one["rollback-count"]) == (536, 500, 5, 1)

    second = restart([first], parameters={})
    assert second.status == "completed" and second.started == ["load"]
    assert second.messages("reader open") == ["reader open 500"]
    assert second.messages("writer open") == ["writer open 500"]
    lines = out.read_text().split()
    assert lines == [str(n) for n in range(1, 1001)]  # 501..1000 written exactly once
    two = second.ended["load"]["metrics"]
    assert (two["read-count"], two["write-count"], two["commit-count"]) == (500, 500, 6)
    assert one["write-count"] + two["write-count"] == len(lines) == 1000
    assert [p["reader"] for p in second.of("checkpoint")] == [600, 700, 800, 900, 1000, 1000]


@pytest.mark.timeout(30)
def test_a_restart_begins_at_the_restart_position_and_skips_completed_steps(run_job):
    first = run_job(command([step("A", EXIT, next="B"), fails_if_asked("B", next="C"),
                             step("C", EXIT)], parameters={"fail": "yes"}))
    assert (first.status, first.final["restart-position"]) == ("failed", "B")
    second = restart([first], parameters={"fail": "no"})
    assert second.started == ["B", "C"] and second.status == "completed"


@pytest.mark.timeout(30)
def test_a_completed_step_is_not_run_again_and_transitions_on_its_earlier_exit_status(run_job):
    steps = [step("A", EXIT, props={"status": "#{jobParameters['route']}"}, transitions=[
                 {"on": "ROUTE-B", "action": "next", "to": "B"},
                 {"on": "*", "action": "next", "to": "C"}]),
             fails_if_asked("B"), step("C", EXIT)]
    body = command(steps, parameters={"route": "ROUTE-B", "fail": "yes"})
    first = run_job(body)
    assert first.started == ["A", "B"] and first.status == "failed"
    first.final["restart-position"] = None  # restart from the first element, as JSR-352 says
    second = restart([first], parameters={"route": "ROUTE-C", "fail": "no"})
    assert second.started == ["B"]  # A's earlier exit status ROUTE-B leads to B, not to C
    assert second.status == "completed"


@pytest.mark.timeout(30)
def test_a_completed_step_whose_transition_failed_the_job_fails_it_again_on_restart(run_job):
    steps = [step("A", EXIT, transitions=[{"on": "COMPLETED", "action": "fail",
                                           "exit-status": "NOT-AGAIN"}]), step("B", EXIT)]
    first = run_job(command(steps))
    assert (first.status, first.exit_status) == ("failed", "NOT-AGAIN")
    second = restart([first])
    assert second.started == []
    assert (second.status, second.exit_status) == ("failed", "NOT-AGAIN")


@pytest.mark.timeout(30)
def test_allow_start_if_complete_runs_a_completed_step_again_with_its_user_data(run_job):
    steps = [step("A", "eapp_batchlets.CountRuns", next="B", allow_start_if_complete=True),
             fails_if_asked("B")]
    first = run_job(command(steps, parameters={"fail": "yes"}))
    assert first.ended["A"]["persistent-user-data"] == {"runs": 1}
    first.final["restart-position"] = None
    second = restart([first], parameters={"fail": "no"})
    assert second.started == ["A", "B"]
    assert second.ended["A"]["exit-status"] == "RUN-2"
    assert second.status == "completed"


@pytest.mark.timeout(30)
def test_start_limit_counts_earlier_starts_and_fails_the_job_when_reached(run_job):
    steps = [fails_if_asked("A", start_limit=2)]
    first = run_job(command(steps, parameters={"fail": "yes"}))
    second = restart([first], parameters={"fail": "yes"})
    assert second.started == ["A"] and second.status == "failed"
    third = restart([first, second], parameters={"fail": "no"})
    assert third.started == []
    assert third.status == "failed"
    assert third.exit_status.startswith("StartLimitExceeded: step A was started 2 time(s)")
    assert third.final["restart-position"] == "A"


@pytest.mark.timeout(30)
def test_a_stop_transition_restarts_at_its_restart_element(run_job):
    steps = [step("A", EXIT, next="B", transitions=[
                 {"on": "COMPLETED", "action": "stop", "restart": "C"}]),
             step("B", EXIT), step("C", EXIT)]
    first = run_job(command(steps))
    assert (first.status, first.final["restart-position"]) == ("stopped", "C")
    second = restart([first])
    assert second.started == ["C"] and second.status == "completed"


@pytest.mark.timeout(30)
def test_a_job_that_is_not_restartable_refuses_a_restart(run_job):
    first = run_job(command([fails_if_asked("A")], parameters={"fail": "yes"},
                            restartable=False))
    second = restart([first], parameters={"fail": "no"})
    assert second.started == []
    assert (second.status, second.exit_status) == ("failed",
                                                   "JobRestartError: job JOB is not restartable")
