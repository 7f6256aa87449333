"""JSR-352 sequencing in the real worker: next attributes, transition elements, flows, splits,
decisions and the job's batch and exit status (JSL 8.2.5, 8.3-8.7, 8.9)."""
from __future__ import annotations

import json
import time

import pytest

from jsagent.engine.outcome import pattern_matches
from tests.integration.engine_app.harness import command, step

EXIT = "eapp_batchlets.Exit"
FAIL = "eapp_batchlets.Fail"
SLEEP = "eapp_batchlets.Sleep"


def exits(step_id: str, status: str, **extra) -> dict:
    return step(step_id, EXIT, props={"status": status}, **extra)


def flow(flow_id: str, steps: list[dict], **extra) -> dict:
    return {"type": "flow", "id": flow_id, "steps": steps,
            **{key.replace("_", "-"): value for key, value in extra.items()}}


@pytest.mark.timeout(30)
def test_a_scope_without_next_or_transitions_is_a_plain_sequence(run_job):
    run = run_job(command([step("A", EXIT), step("B", EXIT), step("C", EXIT)]))
    assert run.started == ["A", "B", "C"]
    assert (run.status, run.exit_status, run.final["restart-position"]) == (
        "completed", "COMPLETED", None)


@pytest.mark.timeout(30)
def test_the_next_attribute_is_followed_and_an_element_without_next_ends_the_job(run_job):
    run = run_job(command([step("A", EXIT, next="C"), step("B", EXIT),
                           step("C", EXIT, next="D"), step("D", EXIT), step("E", EXIT)]))
    assert run.started == ["A", "C", "D"]
    assert run.status == "completed"


@pytest.mark.parametrize("pattern, status, expected", [
    ("*", "", True), ("*", "ANY", True), ("RC?", "RC4", True), ("RC?", "RC44", False),
    ("R*4", "RC_44", True), ("COMPLETED", "COMPLETED", True), ("COMPLETED", "completed", False),
    ("a.b", "axb", False), ("[x]", "[x]", True), ("?*", "", False)])
def test_on_patterns_use_star_and_question_mark(pattern, status, expected):
    assert pattern_matches(pattern, status) is expected


@pytest.mark.timeout(30)
def test_transition_elements_are_evaluated_in_document_order(run_job):
    transitions = [{"on": "RC0", "action": "next", "to": "X"},
                   {"on": "RC4", "action": "next", "to": "Y"},
                   {"on": "RC4", "action": "end", "exit-status": "DONE"},
                   {"on": "*", "action": "fail"}]
    run = run_job(command([exits("S", "RC4", transitions=transitions), exits("X", "x"),
                           exits("Y", "y")]))
    assert run.started == ["S", "Y"]
    run = run_job(command([exits("S", "RC9", transitions=transitions), exits("X", "x"),
                           exits("Y", "y")]))
    assert run.started == ["S"] and run.status == "failed"


@pytest.mark.timeout(30)
def test_transition_elements_take_precedence_over_the_next_attribute(run_job):
    run = run_job(command([
        exits("A", "GO", next="B", transitions=[{"on": "GO", "action": "next", "to": "C"}]),
        exits("B", "b"), exits("C", "c")]))
    assert run.started == ["A", "C"]
    run = run_job(command([
        exits("A", "OTHER", next="B", transitions=[{"on": "GO", "action": "next", "to": "C"}]),
        exits("B", "b"), exits("C", "c")]))
    assert run.started == ["A", "B"]


@pytest.mark.timeout(30)
def test_end_completes_the_job_with_its_exit_status_and_leaves_the_step_alone(run_job):
    run = run_job(command([
        step("A", EXIT, next="B", transitions=[
            {"on": "COMPLETED", "action": "end", "exit-status": "EARLY COMPLETION"}]),
        step("B", EXIT)]))
    assert run.started == ["A"]
    assert (run.ended["A"]["status"], run.ended["A"]["exit-status"]) == ("completed", "COMPLETED")
    assert (run.status, run.exit_status, run.final["restart-position"]) == (
        "completed", "EARLY COMPLETION", None)


@pytest.mark.timeout(30)
def test_fail_fails_the_job_with_its_exit_status_or_the_default_and_the_step_stays_completed(
        run_job):
    transitions = [{"on": "RC4", "action": "fail", "exit-status": "BAD"},
                   {"on": "RC8", "action": "fail"}]
    run = run_job(command([exits("FS1", "RC4", transitions=transitions)]))
    assert (run.ended["FS1"]["status"], run.ended["FS1"]["exit-status"]) == ("completed", "RC4")
    assert (run.status, run.exit_status, run.final["restart-position"]) == ("failed", "BAD", "FS1")
    run = run_job(command([exits("FS1", "RC8", transitions=transitions)]))
    assert (run.status, run.exit_status) == ("failed", "FAILED")


@pytest.mark.timeout(30)
def test_stop_stops_the_job_and_its_restart_attribute_is_the_restart_position(run_job):
    run = run_job(command([
        step("A", EXIT, transitions=[{"on": "COMPLETED", "action": "stop", "restart": "C",
                                      "exit-status": "PAUSED"}]),
        step("B", EXIT), step("C", EXIT)]))
    assert run.started == ["A"]
    assert (run.status, run.exit_status, run.final["restart-position"]) == (
        "stopped", "PAUSED", "C")


@pytest.mark.timeout(30)
def test_an_unhandled_exception_fails_the_job_even_when_the_step_has_a_next_attribute(run_job):
    run = run_job(command([step("A", FAIL, next="B"), step("B", EXIT)]))
    assert run.started == ["A"]
    assert (run.ended["A"]["status"], run.ended["A"]["exit-status"]) == (
        "failed", "ValueError: boom")
    assert (run.status, run.exit_status, run.final["restart-position"]) == (
        "failed", "ValueError: boom", "A")


@pytest.mark.timeout(30)
def test_a_failed_step_matches_FAILED_and_a_next_transition_lets_the_job_complete(run_job):
    run = run_job(command([
        step("Step1", FAIL, next="Step2", transitions=[
            {"on": "FAILED", "action": "next", "to": "Recovery"}, {"on": "*", "action": "fail"}]),
        step("Step2", EXIT), step("Recovery", EXIT)]))
    assert run.started == ["Step1", "Recovery"]
    assert run.ended["Step1"]["status"] == "failed"
    assert (run.status, run.exit_status) == ("completed", "COMPLETED")


@pytest.mark.timeout(30)
def test_exit_statuses_default_to_the_batch_status_and_the_last_override_wins(run_job):
    run = run_job(command([
        step("A", "eapp_batchlets.SetStatuses", props={"step_status": "SET", "returns": "RET"}),
        step("B", "eapp_batchlets.SetStatuses", props={"step_status": "MINE"}),
        step("C", "eapp_batchlets.SetStatuses", props={"job_status": "JOB-SAYS"}),
        step("D", EXIT)]))
    assert [run.ended[s]["exit-status"] for s in "ABCD"] == ["RET", "MINE", "COMPLETED",
                                                             "COMPLETED"]
    assert (run.status, run.exit_status) == ("completed", "JOB-SAYS")


@pytest.mark.timeout(30)
def test_a_flow_runs_its_elements_then_transitions_by_its_next_attribute(run_job):
    run = run_job(command([
        flow("F", [step("F1", EXIT, next="F2"), step("F2", EXIT)], next="Z"),
        step("Y", EXIT), step("Z", EXIT)]))
    assert run.started == ["F1", "F2", "Z"]
    assert run.status == "completed"


@pytest.mark.timeout(30)
def test_flow_transitions_match_the_exit_status_of_its_last_element(run_job):
    run = run_job(command([
        flow("F", [exits("F1", "FLOW-X")], next="Y",
             transitions=[{"on": "FLOW-?", "action": "next", "to": "Z"}]),
        step("Y", EXIT), step("Z", EXIT)]))
    assert run.started == ["F1", "Z"]


@pytest.mark.timeout(30)
def test_a_terminating_transition_inside_a_flow_ends_the_whole_job(run_job):
    run = run_job(command([
        flow("F", [step("F1", EXIT, next="F2", transitions=[
            {"on": "COMPLETED", "action": "end", "exit-status": "FLOW-END"}]),
            step("F2", EXIT)], next="Z"),
        step("Z", EXIT)]))
    assert run.started == ["F1"]
    assert (run.status, run.exit_status) == ("completed", "FLOW-END")


@pytest.mark.timeout(30)
def test_a_next_out_of_a_flow_fails_the_job(run_job):
    run = run_job(command([
        flow("F", [step("F1", EXIT, transitions=[{"on": "*", "action": "next", "to": "Z"}])]),
        step("Z", EXIT)]))
    assert run.started == ["F1"]
    assert run.status == "failed" and run.exit_status.startswith("TransitionError: F1")
    assert run.final["restart-position"] == "F"


@pytest.mark.timeout(30)
def test_an_element_transitioned_to_twice_is_a_loop_that_fails_the_job(run_job):
    run = run_job(command([step("A", EXIT, next="B"), step("B", EXIT, next="A")]))
    assert run.started == ["A", "B"]
    assert run.status == "failed" and run.exit_status.startswith("LoopError")


@pytest.mark.timeout(30)
def test_split_flows_run_in_parallel_then_the_split_transitions_by_next(run_job):
    flows = [flow(f"f{n}", [step(f"s{n}", SLEEP, props={"seconds": "0.5"})]) for n in range(4)]
    began = time.monotonic()
    run = run_job(command([{"type": "split", "id": "fan", "flows": flows, "next": "after"},
                           {"type": "decision", "id": "after", "ref": "eapp_listeners.Echo",
                            "properties": {"answer": "GATHERED"},
                            "transitions": [{"on": "GATHERED", "action": "next",
                                             "to": "last"}]},
                           step("last", EXIT)]))
    elapsed = time.monotonic() - began
    assert elapsed < 1.5, f"4 flows of 0.5 s took {elapsed:.2f} s"
    assert sorted(run.started[:4]) == ["s0", "s1", "s2", "s3"] and run.started[4:] == ["last"]
    (decided,) = run.messages("DECIDE ")
    assert sorted(json.loads(decided[len("DECIDE "):])) == [
        [f"s{n}", "COMPLETED", "COMPLETED"] for n in range(4)]
    for n in range(4):
        assert set(run.messages("sleep", step=f"s{n}")) == {f"sleep begins in s{n}",
                                                            f"sleep ends in s{n}"}
    assert (run.status, run.exit_status) == ("completed", "GATHERED")


@pytest.mark.timeout(30)
def test_a_failing_flow_fails_the_job_after_the_other_flows_finish(run_job):
    run = run_job(command([
        {"type": "split", "id": "fan", "next": "after", "flows": [
            flow("f1", [step("bad", FAIL)]),
            flow("f2", [step("slow", SLEEP, props={"seconds": "0.3"})])]},
        step("after", EXIT)]))
    assert run.ended["slow"]["status"] == "completed"
    assert "after" not in run.started
    assert (run.status, run.exit_status, run.final["restart-position"]) == (
        "failed", "ValueError: boom", "fan")


@pytest.mark.timeout(30)
def test_a_decision_gets_the_previous_step_and_its_value_drives_transitions_and_exit_status(
        run_job):
    run = run_job(command([
        exits("A", "GO-B", next="choose"),
        {"type": "decision", "id": "choose", "ref": "eapp_listeners.Echo",
         "transitions": [{"on": "GO-A", "action": "next", "to": "ZA"},
                         {"on": "GO-*", "action": "next", "to": "ZB"}]},
        exits("ZA", "a"), exits("ZB", "b")]))
    assert run.messages("DECIDE") == ['DECIDE [["A", "COMPLETED", "GO-B"]]']
    assert run.started == ["A", "ZB"]
    assert (run.status, run.exit_status) == ("completed", "GO-B")


@pytest.mark.timeout(30)
def test_a_decision_can_end_the_job_and_a_raising_decider_fails_it(run_job):
    run = run_job(command([
        step("A", EXIT, next="choose"),
        {"type": "decision", "id": "choose", "ref": "eapp_listeners.Echo",
         "properties": {"answer": "STOP-HERE"},
         "transitions": [{"on": "STOP-*", "action": "stop", "restart": "B"}]},
        step("B", EXIT)]))
    assert (run.status, run.exit_status, run.final["restart-position"]) == (
        "stopped", "STOP-HERE", "B")
    run = run_job(command([step("A", EXIT, next="choose"),
                           {"type": "decision", "id": "choose",
                            "ref": "eapp_listeners.Broken"}]))
    assert (run.status, run.exit_status) == ("failed", "KeyError: 'no decision'")
    assert run.final["restart-position"] == "choose"
