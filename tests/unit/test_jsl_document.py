import pytest

from jsbus.errors import JobDefinitionError
from jsbus.jsl import definition_from_document, normalized_document
from jsbus.jsl.document import run_order


def test_seed_document_parses():
    definition = definition_from_document(
        {"id": "JOB-1", "steps": [{"id": "STEP-1", "batchlet": {"ref": "example.Batchlet"}}]})
    assert definition.id == "JOB-1"
    assert [s.batchlet_ref for s in definition.steps] == ["example.Batchlet"]
    assert definition.restartable is True


def test_normalized_document_is_what_agents_run():
    definition = definition_from_document({
        "id": "J", "properties": {"n": 3},
        "steps": [{"id": "A", "batchlet": {"ref": "m.A", "properties": {"x": True}}, "next": "C"},
                  {"id": "B", "batchlet": {"ref": "m:B"}},
                  {"id": "C", "batchlet": {"ref": "m.C"}}]})
    document = normalized_document(definition)
    assert [step["id"] for step in document["steps"]] == ["A", "C"]
    assert document["steps"][0]["batchlet"] == {"ref": "m.A", "properties": {"x": "true"}}
    assert document["properties"] == {"n": "3"}


@pytest.mark.parametrize("document, message", [
    ({}, "id must be present"),
    ({"id": "bad id", "steps": []}, "id must match"),
    ({"id": "J"}, "steps must be a non-empty list"),
    ({"id": "J", "steps": [{"batchlet": {"ref": "m.A"}}]}, "steps[0].id must be present"),
    ({"id": "J", "steps": [{"id": "A"}]}, "steps[0].batchlet must be present"),
    ({"id": "J", "steps": [{"id": "A", "batchlet": {"ref": "not a ref"}}]},
     "steps[0].batchlet.ref must be a class reference"),
    ({"id": "J", "steps": [{"id": "A", "batchlet": {"ref": "m.A"}},
                           {"id": "A", "batchlet": {"ref": "m.A"}}]}, "duplicate step id 'A'"),
    ({"id": "J", "steps": [{"id": "A", "batchlet": {"ref": "m.A"}, "next": "Z"}]},
     "next 'Z' is not a step of this job"),
    ({"id": "J", "colour": 1, "steps": [{"id": "A", "batchlet": {"ref": "m.A"}}]},
     "unknown key 'colour'"),
    ({"id": "J", "restartable": "yes", "steps": [{"id": "A", "batchlet": {"ref": "m.A"}}]},
     "restartable must be true or false"),
])
def test_invalid_documents_name_the_element(document, message):
    with pytest.raises(JobDefinitionError) as info:
        definition_from_document(document)
    assert any(message in text for text in info.value.messages), info.value.messages


def test_every_problem_is_reported_at_once():
    with pytest.raises(JobDefinitionError) as info:
        definition_from_document({"id": "", "steps": [{"id": "A"}, {"batchlet": {}}]})
    assert len(info.value.messages) >= 4


def test_run_order_stops_on_a_loop():
    definition = definition_from_document({"id": "J", "steps": [
        {"id": "A", "batchlet": {"ref": "m.A"}, "next": "B"},
        {"id": "B", "batchlet": {"ref": "m.B"}, "next": "A"}]})
    assert [step.id for step in run_order(definition)] == ["A", "B"]
