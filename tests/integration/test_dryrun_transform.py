"""The agent's side of a dry run (``jsagent.dryrun``): the no-op transformation, and real worker
processes running what it makes of a job (no bus, no agent process)."""
from __future__ import annotations

import pytest

from jsagent.dryrun import NO_OP_BATCHLET, NO_OP_DECIDER, no_op_job, run_dry
from jsbus.jsl import job_from_document, job_to_document, validate
from jsbus.jsl.model import Decision, Flow, PartitionPlan, Split, Step

pytestmark = pytest.mark.timeout(60)


def rich_job(marker_path: str) -> dict:
    """Every kind of component, none of which exists (or would be harmless) for real."""
    return {
        "id": "RICH", "listeners": [{"ref": "nowhere.JobListener"}],
        "steps": [
            {"type": "step", "id": "shell", "next": "chunky",
             "batchlet": {"ref": "shell", "properties": {"command": f"touch {marker_path}"}},
             "listeners": [{"ref": "nowhere.StepListener"}]},
            {"type": "step", "id": "chunky", "next": "decide",
             "chunk": {"reader": {"ref": "nowhere.Reader"},
                       "processor": {"ref": "nowhere.Processor"},
                       "writer": {"ref": "nowhere.Writer"}, "checkpoint-policy": "custom",
                       "checkpoint-algorithm": {"ref": "nowhere.Algorithm"}},
             "partition": {"mapper": {"ref": "nowhere.Mapper"},
                           "collector": {"ref": "nowhere.Collector"},
                           "analyzer": {"ref": "nowhere.Analyzer"},
                           "reducer": {"ref": "nowhere.Reducer"}}},
            {"type": "decision", "id": "decide", "ref": "nowhere.Decider",
             "transitions": [{"action": "next", "on": "COMPLETED", "to": "both"},
                             {"action": "fail", "on": "*", "exit-status": "WRONG-WAY"}]},
            {"type": "split", "id": "both", "next": "planned", "flows": [
                {"type": "flow", "id": "left", "steps": [{"type": "step", "id": "l1",
                                             "batchlet": {"ref": "nowhere.Left"}}]},
                {"type": "flow", "id": "right", "steps": [{"type": "step", "id": "r1",
                                              "batchlet": {"ref": "nowhere.Right"}}]}]},
            {"type": "step", "id": "planned", "batchlet": {"ref": "nowhere.Planned"},
             "partition": {"plan": {"partitions": 3, "threads": 2}}}]}


def test_every_component_becomes_a_no_op_and_the_shape_stays(tmp_path):
    job = job_from_document(rich_job(str(tmp_path / "marker")))
    dry = no_op_job(job)
    assert dry.listeners == ()
    steps = {step.id: step for step in dry.steps()}
    assert set(steps) == {"shell", "chunky", "l1", "r1", "planned"}
    for step in steps.values():
        assert step.batchlet.ref == NO_OP_BATCHLET and step.batchlet.properties == {}
        assert step.chunk is None and step.listeners == ()
    assert steps["chunky"].partition.plan == PartitionPlan(partitions=1)
    assert steps["chunky"].partition.mapper is None
    assert steps["chunky"].partition.collector is None
    assert steps["chunky"].partition.analyzer is None
    assert steps["chunky"].partition.reducer is None
    assert steps["planned"].partition.plan == PartitionPlan(partitions=3, threads=2)
    decision = next(e for e, _ in dry.walk() if isinstance(e, Decision))
    assert decision.decider.ref == NO_OP_DECIDER
    original = {e.id: e for e, _ in job.walk()}
    for element, _ in dry.walk():  # ids, next attributes and transitions as they were
        assert getattr(element, "next", None) == getattr(original[element.id], "next", None)
        assert (getattr(element, "transitions", ())
                == getattr(original[element.id], "transitions", ()))
        assert type(element) is type(original[element.id])
    assert [type(e) for e in dry.elements] == [Step, Step, Decision, Split, Step]
    assert all(isinstance(flow, Flow) for flow in dry.elements[3].flows)
    assert validate(job_from_document(job_to_document(dry))) is not None  # still a valid job


def test_a_job_of_missing_components_completes_and_runs_none_of_them(tmp_path):
    marker = tmp_path / "marker"
    outcome = run_dry(rich_job(str(marker)), timeout=30)
    assert outcome["batch-status"] == "completed", outcome
    assert [step["name"] for step in outcome["steps"]][:2] == ["shell", "chunky"]
    assert {step["name"] for step in outcome["steps"]} == {"shell", "chunky", "l1", "r1",
                                                          "planned"}
    assert {step["batch-status"] for step in outcome["steps"]} == {"completed"}
    assert not marker.exists()  # the shell batchlet did not run


def test_the_decision_follows_the_previous_exit_status():
    document = {"id": "DECIDE", "steps": [
        {"type": "step", "id": "first", "batchlet": {"ref": "x.Y"}, "next": "choose"},
        {"type": "decision", "id": "choose", "ref": "x.D",
         "transitions": [{"action": "fail", "on": "COMPLETED", "exit-status": "NO-WAY-ON"}]}]}
    outcome = run_dry(document, timeout=30)
    assert outcome["batch-status"] == "failed"
    assert outcome["exit-status"] == "NO-WAY-ON"
    assert outcome["messages"] == ["the job ended failed: NO-WAY-ON"]


def test_a_loop_that_reaches_the_engine_fails_the_dry_run():
    """The bus refuses loops before a dry run; the agent's engine catches one all the same."""
    loop = {"id": "LOOP", "steps": [{"id": "a", "batchlet": {"ref": "x.Y"}, "next": "b"},
                                    {"id": "b", "batchlet": {"ref": "x.Y"}, "next": "a"}]}
    outcome = run_dry(loop, timeout=30)
    assert outcome["batch-status"] == "failed"
    assert "LoopError: element 'a' was transitioned to twice" in outcome["exit-status"]
    assert [step["name"] for step in outcome["steps"]] == ["a", "b"]


def test_a_document_the_engine_cannot_read_fails_without_a_worker():
    outcome = run_dry({"id": "BAD", "steps": "none"}, timeout=30)
    assert outcome["batch-status"] == "failed"
    assert outcome["messages"][0].startswith("the job document is not valid")


def test_a_dry_run_that_does_not_end_in_time_is_killed_and_fails():
    outcome = run_dry({"id": "J", "steps": [{"id": "a", "batchlet": {"ref": "x.Y"}}]},
                      timeout=0.001)
    assert outcome["batch-status"] == "failed"
    assert "did not end within 0.001 s" in outcome["messages"][0]
