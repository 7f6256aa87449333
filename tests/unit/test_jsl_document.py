"""The JSON form: codec (shape) + validation (rules) through ``definition_from_document``."""
import copy

import pytest

from jsbus.errors import JobDefinitionError
from jsbus.jsl import (definition_from_document, definition_with_warnings, job_from_document,
                       job_to_document)
from jsbus.jsl.model import Chunk, Decision, Flow, Partition, PartitionPlan, Ref, Split, Step

pytestmark = pytest.mark.timeout(10)


def step(step_id, **extra):
    return {"id": step_id, "batchlet": {"ref": f"m.{step_id.upper()}"}, **extra}


# Every element and attribute of the JSON form, each with a value other than its default.
RICH = {
    "id": "PAYROLL", "restartable": False,
    "properties": {"region": "#{jobParameters['region']}?:EU;"},
    "listeners": [{"ref": "payroll.listeners.Audit", "properties": {"level": "full"}}],
    "steps": [
        {"id": "load", "start-limit": 3, "allow-start-if-complete": True, "next": "fan-out",
         "properties": {"table": "staff"}, "listeners": [{"ref": "payroll.listeners.Timing"}],
         "chunk": {"reader": {"ref": "payroll.io:CsvReader", "properties": {"path": "/in.csv"}},
                   "processor": {"ref": "payroll.io.Validate"},
                   "writer": {"ref": "payroll.io.DbWriter"},
                   "checkpoint-policy": "custom", "item-count": 100, "time-limit": 30,
                   "checkpoint-algorithm": {"ref": "payroll.io.Every", "properties": {"n": "5"}},
                   "skip-limit": 10, "retry-limit": 3,
                   "skippable-exception-classes": {"include": ["ValueError"],
                                                   "exclude": ["KeyError"]},
                   "retryable-exception-classes": {"include": ["ConnectionError"]},
                   "no-rollback-exception-classes": {"exclude": ["OSError"]}},
         "partition": {"mapper": {"ref": "payroll.Mapper", "properties": {"k": "v"}},
                       "reducer": {"ref": "payroll.Reducer"}},
         "transitions": [{"on": "FAILED", "action": "stop", "exit-status": "HALT",
                          "restart": "load"},
                         {"on": "BAD?", "action": "fail", "exit-status": "BAD"},
                         {"on": "SKIP", "action": "next", "to": "choose"}]},
        {"type": "split", "id": "fan-out", "next": "choose",
         "flows": [{"type": "flow", "id": "f1", "steps": [step("a", next="b"), step("b")]},
                   {"type": "flow", "id": "f2", "steps": [
                       step("c", next="d2"), {"type": "decision", "id": "d2", "ref": "m.D",
                                   "transitions": [{"on": "*", "action": "end"}]}],
                    "transitions": [{"on": "X", "action": "fail"}]}]},
        {"type": "decision", "id": "choose", "ref": "payroll.Decider", "properties": {"k": "v"},
         "transitions": [{"on": "RERUN", "action": "next", "to": "report"},
                         {"on": "*", "action": "end", "exit-status": "DONE"}]},
        {"type": "flow", "id": "report", "next": "last",
         "transitions": [{"on": "FAILED", "action": "end"}],
         "steps": [{"id": "r1", "batchlet": {"ref": "shell", "properties": {"command": "ls"}},
                    "partition": {"plan": {"partitions": 4, "threads": 2,
                                           "properties": [{"n": "0"}, {}, {"n": "2"}]},
                                  "collector": {"ref": "m.Collector"},
                                  "analyzer": {"ref": "m.Analyzer"}}}]},
        step("last")]}


def test_seed_document_parses():
    job = definition_from_document(
        {"id": "JOB-1", "steps": [{"id": "STEP-1", "batchlet": {"ref": "example.Batchlet"}}]})
    assert job.id == "JOB-1"
    assert [s.batchlet.ref for s in job.steps()] == ["example.Batchlet"]
    assert job.restartable is True


def test_rich_document_reads_every_element():
    job = definition_from_document(copy.deepcopy(RICH))
    load, split, choose, report, _ = job.elements
    assert isinstance(load, Step) and isinstance(split, Split)
    assert isinstance(choose, Decision) and isinstance(report, Flow)
    assert load.chunk == Chunk(
        reader=Ref("payroll.io:CsvReader", {"path": "/in.csv"}),
        writer=Ref("payroll.io.DbWriter"), processor=Ref("payroll.io.Validate"),
        checkpoint_policy="custom", item_count=100, time_limit=30,
        checkpoint_algorithm=Ref("payroll.io.Every", {"n": "5"}), skip_limit=10, retry_limit=3,
        skippable=load.chunk.skippable, retryable=load.chunk.retryable,
        no_rollback=load.chunk.no_rollback)
    assert load.chunk.skippable.exclude == ("KeyError",)
    assert load.partition == Partition(mapper=Ref("payroll.Mapper", {"k": "v"}),
                                       reducer=Ref("payroll.Reducer"))
    assert load.transitions[0].restart == "load" and load.allow_start_if_complete
    assert report.elements[0].partition.plan == PartitionPlan(4, 2, ({"n": "0"}, {}, {"n": "2"}))
    assert choose.decider == Ref("payroll.Decider", {"k": "v"})
    assert [flow.id for flow in split.flows] == ["f1", "f2"]


def test_json_round_trip_gives_the_same_document_and_model():
    job = definition_from_document(copy.deepcopy(RICH))
    document = job_to_document(job)
    assert document == RICH
    assert job_from_document(document) == job


def test_canonical_form_leaves_out_defaults_and_stringifies_properties():
    job = definition_from_document({
        "id": "J", "restartable": True, "properties": {"n": 3, "b": True},
        "steps": [{"type": "step", "id": "A", "start-limit": "0",
                   "allow-start-if-complete": "false",
                   "batchlet": {"ref": "m.A", "properties": {"x": True}}},
                  {"id": "B", "chunk": {"reader": {"ref": "m.R"}, "writer": {"ref": "m.W"},
                                        "item-count": "10", "checkpoint-policy": "item",
                                        "skippable-exception-classes": {"include": []}}}]})
    assert job_to_document(job) == {
        "id": "J", "properties": {"n": "3", "b": "true"},
        "steps": [{"id": "A", "batchlet": {"ref": "m.A", "properties": {"x": "true"}}},
                  {"id": "B", "chunk": {"reader": {"ref": "m.R"}, "writer": {"ref": "m.W"}}}]}


@pytest.mark.parametrize("document, message", [
    ({}, "job: id must be present"),
    ({"id": "bad id", "steps": [step("A")]}, "job bad id: id must match"),
    ({"id": "J"}, "steps: must be a non-empty list"),
    ({"id": "J", "steps": [{"batchlet": {"ref": "m.A"}}]}, "steps[0]: id must be present"),
    ({"id": "J", "steps": [{"id": "A"}]}, "step A: has neither batchlet nor chunk"),
    ({"id": "J", "steps": [{"id": "A", "batchlet": {"ref": "not a ref"}}]},
     "step A: batchlet ref 'not a ref' is not a class reference"),
    ({"id": "J", "steps": [step("A"), step("A")]}, "step A: id 'A' is used by 2 elements"),
    ({"id": "J", "steps": [step("A", next="Z")]}, "step A: next 'Z' is not an element of the job"),
    ({"id": "J", "colour": 1, "steps": [step("A")]}, "job: unknown key 'colour'"),
    ({"id": "J", "restartable": "yes", "steps": [step("A")]}, "restartable must be true or false"),
    ({"id": "J", "steps": [step("A", **{"start-limit": "²"})]}, "start-limit must be a whole"),
    ({"id": "J", "steps": [{"type": ["step"], "id": "A"}]}, "steps[0]: must be an object whose"),
    ({"id": "J", "steps": [step("A", transitions=[{"on": "*"}])]}, "action must be present"),
    ({"id": "J", "steps": [step("A", transitions=[{"on": "*", "action": "goto"}])]},
     "action must be one of next, end, fail, stop"),
    ({"id": "J", "steps": [step("A", transitions=[{"on": "*", "action": "end", "to": "A"}])]},
     "an end transition has no to"),
    ({"id": "J", "steps": [{"type": "split", "id": "S", "flows": [step("A", type="step")]}]},
     "split S.flows[0]: a split holds flows only"),
    ({"id": "J", "steps": [{"type": "split", "id": "S", "flows": ["f1"]}]},
     "split S.flows[0]: must be an object"),
    ({"id": "J", "steps": [step("A", colour="red")]}, "step A: unknown key 'colour'"),
])
def test_invalid_documents_name_the_element(document, message):
    with pytest.raises(JobDefinitionError) as info:
        definition_from_document(document)
    assert any(message in text for text in info.value.messages), info.value.messages


def test_every_problem_is_reported_at_once():
    with pytest.raises(JobDefinitionError) as info:
        definition_from_document({"id": "", "steps": [{"id": "A"}, {"batchlet": {}}]})
    assert len(info.value.messages) >= 4, info.value.messages


def test_id_and_step_rules_come_with_the_shape_problems():
    with pytest.raises(JobDefinitionError) as info:
        definition_from_document({"id": "J 1", "steps": [{"id": "A"}, {"id": "B", "x": 1}]})
    assert info.value.messages == ["job J 1: id must match ^[\\w\\-]+$",
                                   "step A: has neither batchlet nor chunk; a step has exactly one",
                                   "step B: unknown key 'x'"]


def test_step_rules_are_reported_with_the_shape_problems_of_other_elements():
    with pytest.raises(JobDefinitionError) as info:
        definition_from_document({"id": "J", "steps": [
            {"id": "A", "batchlet": {"ref": "m.A"}, "chunk": {"reader": {"ref": "m.R"},
                                                            "writer": {"ref": "m.W"}}},
            {"id": "B", "batchlet": {"ref": 3}}]})
    assert info.value.messages == ["step A: has both batchlet and chunk; a step has exactly one",
                                   "step B.batchlet: ref must be a string"]


def test_a_loop_is_refused():
    with pytest.raises(JobDefinitionError) as info:
        definition_from_document({"id": "J", "steps": [step("A", next="B"), step("B", next="A")]})
    assert info.value.messages == ["step A: next and transitions make a loop A -> B -> A; "
                                   "no element may be transitioned to twice"]


def test_warnings_come_back_with_the_job():
    job, warnings = definition_with_warnings({"id": "J", "steps": [step("A"), step("B")]})
    assert job.id == "J"
    assert warnings == ["step B: unreachable in the job: no next or transition leads to it "
                        "from step A"]
