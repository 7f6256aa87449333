"""Every rule of jsbus.jsl.validation: errors raise naming the element, warnings come back."""
import dataclasses
import zipfile

import pytest

from jsbus.errors import JobDefinitionError
from jsbus.jsl import definition_from_document, job_from_document
from jsbus.jsl.model import (Chunk, Decision, Flow, Job, Partition, PartitionPlan, Ref, Split,
                             Step, Transition)
from jsbus.jsl.validation import check, validate

pytestmark = pytest.mark.timeout(10)


def step(step_id, **extra):
    return {"id": step_id, "batchlet": {"ref": "m.B"}, **extra}


def nxt(to, on="*"):
    return {"on": on, "action": "next", "to": to}


def flow(flow_id, *steps, **extra):
    return {"type": "flow", "id": flow_id, "steps": list(steps), **extra}


def decision(decision_id, *transitions):
    return {"type": "decision", "id": decision_id, "ref": "m.D", "transitions": list(transitions)}


def problems_of(*elements):
    """Validation's problems; the codec's when it refuses (it runs the rules of each step)."""
    try:
        job = job_from_document({"id": "J", "steps": list(elements)})
    except JobDefinitionError as error:
        return error.messages
    return check(job)[0]


def warnings_of(*elements, classpath=()):
    problems, warnings = check(job_from_document({"id": "J", "steps": list(elements)}), classpath)
    assert problems == []
    return warnings


BATCHLET = Ref("m.B")


@pytest.mark.parametrize("elements, message", [
    ([step("a b")], "step a b: id must match ^[\\w\\-]+$"),
    ([step("a", next="b"), flow("b", step("a"))],
     "step a: id 'a' is used by 2 elements (step, step)"),
    ([step("a", next="nope")], "step a: next 'nope' is not an element of the job"),
    ([step("a", transitions=[nxt("nope", on="X")])],
     "step a: next transition on 'X' to 'nope' is not an element of the job"),
    ([flow("f1", step("a", next="b")), step("b")],
     "step a: next 'b' leaves flow f1; an element inside a flow can only go to one of the same"),
    ([flow("f1", step("a", next="b"), flow("f2", step("b")))],
     "step a: next 'b' is inside flow f2; an element of flow f1 can only go to one at its own"),
    ([flow("f1", step("a", transitions=[nxt("b")])), step("b")],
     "step a: next transition on '*' to 'b' leaves flow f1"),
    ([step("a", next="b"), flow("f1", step("b"))],
     "step a: next 'b' is inside flow f1; a job-level element can only go to one at its own level"),
    ([{"type": "split", "id": "s", "flows": [flow("f1", step("a"), next="f2"),
                                             flow("f2", step("b"))]}],
     "flow f1: next 'f2': a flow inside split s cannot go elsewhere; the split moves on"),
    ([{"type": "split", "id": "s", "next": "c",
       "flows": [flow("f1", step("a"), transitions=[nxt("c")])]}, step("c")],
     "flow f1: next transition on '*' to 'c': a flow inside split s cannot go elsewhere"),
    ([step("a", transitions=[{"on": "*", "action": "stop", "restart": "x"}])],
     "step a: stop restart 'x' is not an element of the job"),
    ([flow("f1", step("a", transitions=[{"on": "*", "action": "stop", "restart": "a"}]))],
     "step a: stop restart 'a' is not at the job's top level; restart names a job-level step"),
    ([step("a", next="d", transitions=[{"on": "*", "action": "stop", "restart": "d"}]),
      decision("d", {"on": "*", "action": "end"})],
     "step a: stop restart 'd' is a decision; restart names a job-level step, flow or split"),
    ([decision("d", nxt("a")), step("a")],
     "decision d: a decision cannot be the first element of the job"),
    ([flow("f1", decision("d", nxt("a")), step("a"))],
     "decision d: a decision cannot be the first element of flow f1"),
    ([step("a", next="a")], "step a: next and transitions make a loop a -> a"),
    ([step("a", next="b"), step("b", transitions=[nxt("c", on="X"), nxt("a", on="Y")]), step("c")],
     "step a: next and transitions make a loop a -> b -> a; no element may be transitioned to"),
    ([step("a", next="d"), decision("d", nxt("a", on="AGAIN"), {"on": "*", "action": "end"})],
     "step a: next and transitions make a loop a -> d -> a"),
    ([flow("f1", step("x", next="y"), step("y", next="x"))],
     "step x: next and transitions make a loop x -> y -> x"),
    ([flow("f1", step("a"), next="f1")], "flow f1: next and transitions make a loop f1 -> f1"),
    ([step("a", partition={"mapper": {"ref": "m.M"}, "plan": {"partitions": 2}})],
     "step a: partition has both mapper and plan; it needs exactly one"),
    ([step("a", partition={"collector": {"ref": "m.C"}})],
     "step a: partition has neither mapper nor plan; it needs exactly one"),
    ([step("a", partition={"plan": {"partitions": 2, "properties": [{}, {}, {"n": "2"}]}})],
     "step a: partition plan has properties for 3 partitions but partitions is 2"),
    ([step("a", partition={"plan": {"partitions": 0}})],
     "step a: partition plan partitions must be at least 1, not 0"),
    ([step("a", partition={"plan": {"threads": 0}})],
     "step a: partition plan threads must be at least 1, not 0"),
    ([{"id": "a", "chunk": {"reader": {"ref": "m.R"}, "writer": {"ref": "m.W"},
                            "checkpoint-policy": "custom"}}],
     "step a: chunk checkpoint-policy custom needs a checkpoint-algorithm"),
    ([{"id": "a", "chunk": {"reader": {"ref": "m.R"}, "writer": {"ref": "m.W"},
                            "item-count": 0}}],
     "step a: chunk item-count must be at least 1, not 0"),
    ([{"id": "a", "batchlet": {"ref": "m.B"}, "chunk": {"reader": {"ref": "m.R"},
                                                        "writer": {"ref": "m.W"}}}],
     "step a: has both batchlet and chunk; a step has exactly one"),
    ([{"id": "a", "listeners": [{"ref": "m.L"}]}],
     "step a: has neither batchlet nor chunk; a step has exactly one"),
    ([step("a", listeners=[{"ref": "pkg..Mod"}])],
     "step a: listener ref 'pkg..Mod' is not a class reference"),
    ([{"type": "decision", "id": "d", "ref": "m:"}, step("a")],
     "decision d: decider ref 'm:' is not a class reference"),
])
def test_each_rule_names_the_element(elements, message):
    problems = problems_of(*elements)
    assert any(message in text for text in problems), problems
    with pytest.raises(JobDefinitionError) as info:
        definition_from_document({"id": "J", "steps": elements})
    assert info.value.messages == problems


def test_rules_the_codec_cannot_express_are_checked_on_the_model():
    bad_chunk = Chunk(reader=Ref("m.R"), writer=Ref("m.W"), checkpoint_policy="sometimes",
                      time_limit=-1, skip_limit=-2, retry_limit=-3)
    job = Job(id="J", elements=(
        Step(id="a", chunk=bad_chunk, start_limit=-1, batchlet=None,
             transitions=(Transition("goto", "*"), Transition("end", ""), Transition("next", "X"))),
        Split(id="s", flows=(Step(id="x", batchlet=BATCHLET),)),
        Split(id="s2", flows=()),
        Flow(id="f", elements=()),
        Step(id="b", batchlet=Ref(""))))
    problems, _ = check(job)
    assert problems[:8] == [
        "step a: start-limit must be >= 0, not -1",
        "step a: chunk checkpoint-policy must be item or custom, not 'sometimes'",
        "step a: chunk time-limit must be >= 0, not -1",
        "step a: chunk skip-limit must be >= 0, not -2",
        "step a: chunk retry-limit must be >= 0, not -3",
        "step a: transition action 'goto' is not one of next, end, fail, stop",
        "step a: end transition needs on",
        "step a: next transition on 'X' needs to"]
    assert "split s: holds step x; a split holds flows only" in problems
    assert "split s2: has no flows; a split needs at least one" in problems
    assert "flow f: has no elements; a flow needs at least one" in problems
    assert "step b: batchlet ref is empty" in problems
    assert check(Job(id="J", elements=()))[0] == [
        "job J: has no elements; a job needs at least one"]


def test_every_problem_is_listed_once():
    job = job_from_document({"id": "J", "steps": [
        step("a", next="nope"), step("b", next="b"), decision("c"),
        flow("f", step("x", next="y"))]})
    problems, _ = check(dataclasses.replace(job, id="bad id"))
    assert problems == [
        "job bad id: id must match ^[\\w\\-]+$",
        "step a: next 'nope' is not an element of the job",
        "step b: next and transitions make a loop b -> b; no element may be transitioned to twice",
        "step x: next 'y' is not an element of the job"]


def test_a_valid_rich_job_has_no_problems():
    from tests.unit.test_jsl_document import RICH
    assert check(job_from_document(RICH)) == ([], [])


def test_unreachable_elements_are_warnings_per_scope():
    warnings = warnings_of(step("a", next="c"), step("b"),
                           flow("c", step("x"), step("y"), step("z", next="y")))
    assert warnings == [
        "step b: unreachable in the job: no next or transition leads to it from step a",
        "step y: unreachable in flow c: no next or transition leads to it from step x",
        "step z: unreachable in flow c: no next or transition leads to it from step x"]


def test_a_restart_target_is_reachable():
    assert warnings_of(step("a", transitions=[{"on": "*", "action": "stop", "restart": "b"}]),
                       step("b")) == []


def test_a_decision_without_transitions_is_a_warning():
    assert warnings_of(step("a", next="d"), decision("d")) == [
        "decision d: has no transitions; the job ends after it whatever the decider returns"]


def test_a_checkpoint_algorithm_with_the_item_policy_is_a_warning():
    chunk = {"reader": {"ref": "m.R"}, "writer": {"ref": "m.W"},
             "checkpoint-algorithm": {"ref": "m.A"}}
    assert warnings_of({"id": "a", "chunk": chunk}) == [
        "step a: chunk checkpoint-algorithm is ignored unless checkpoint-policy is custom"]


def test_refs_are_looked_up_in_the_classpath_without_importing(tmp_path):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("raise SystemExit('never imported')")
    (tmp_path / "pkg" / "mod.py").write_text("raise SystemExit('never imported')")
    (tmp_path / "pkg" / "sub" / "__init__.py").write_text("")
    archive = tmp_path / "lib.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("zipped/mod.py", "")
    found = [step("a", next="b", batchlet={"ref": "pkg.mod.Reader"}),
             step("b", next="c", batchlet={"ref": "pkg.mod:Outer.Inner"}),
             step("c", next="d", batchlet={"ref": "pkg.sub:Thing"}),
             step("d", next="e", batchlet={"ref": "pkg.Thing"}),
             step("e", next="f", batchlet={"ref": "zipped.mod.X"}),
             step("f", next="g", batchlet={"ref": "shell"}),
             step("g", next="h", batchlet={"ref": "python-main"}),
             step("h", next="i", batchlet={"ref": "java-main"}),
             step("i", batchlet={"ref": "#{jobParameters['batchlet']}"})]
    classpath = [f"file://{tmp_path}", str(archive), "http://example.invalid/lib/"]
    assert warnings_of(*found, classpath=classpath) == []
    missing = [step("a", next="b", batchlet={"ref": "pkg.other.Reader"},
                    listeners=[{"ref": "nowhere:L"}]),
               step("b", batchlet={"ref": "registered-name"})]
    assert warnings_of(*missing, classpath=classpath) == [
        "step a: listener ref 'nowhere:L' not found in the classpath (no nowhere.py or "
        "nowhere/__init__.py)",
        "step a: batchlet ref 'pkg.other.Reader' not found in the classpath (no pkg/other.py or "
        "pkg/other/__init__.py)",
        "step b: batchlet ref 'registered-name' is an unknown name (not a built-in and not "
        "package.module.Class)"]
    assert warnings_of(*missing) == []  # no classpath: refs are only checked for their form


def test_every_artifact_ref_is_checked(tmp_path):
    job = Job(id="J", listeners=(Ref("j.L"),), elements=(
        Step(id="a", next="d", listeners=(Ref("s.L"),),
             chunk=Chunk(reader=Ref("c.R"), writer=Ref("c.W"), processor=Ref("c.P"),
                         checkpoint_policy="custom", checkpoint_algorithm=Ref("c.A")),
             partition=Partition(mapper=Ref("p.M"), collector=Ref("p.C"), analyzer=Ref("p.A"),
                                 reducer=Ref("p.R"))),
        Decision(id="d", decider=Ref("d.D"), transitions=(Transition("end", "*"),))))
    warnings = validate(job, [str(tmp_path)])
    assert [w.split(" not found")[0] for w in warnings] == [
        "job J: listener ref 'j.L'", "step a: listener ref 's.L'", "step a: chunk reader ref 'c.R'",
        "step a: chunk processor ref 'c.P'", "step a: chunk writer ref 'c.W'",
        "step a: chunk checkpoint-algorithm ref 'c.A'", "step a: partition mapper ref 'p.M'",
        "step a: partition collector ref 'p.C'", "step a: partition analyzer ref 'p.A'",
        "step a: partition reducer ref 'p.R'", "decision d: decider ref 'd.D'"]
    assert PartitionPlan(1).threads is None
