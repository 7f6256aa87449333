"""jsbus/jsl/schema.json describes the JSON form: the documents the codec reads, every model field.

The jsonschema package is not a dependency: when it is importable the examples are checked with
it too; a small checker of the keywords the schema uses always runs.
"""
import copy
import dataclasses
import json
import re
from pathlib import Path

import pytest

from jsbus import jsl
from jsbus.errors import JobDefinitionError
from jsbus.jsl import definition_from_document, job_to_document
from jsbus.jsl import model
from tests.unit.test_jsl_document import RICH

pytestmark = pytest.mark.timeout(10)

ROOT = Path(__file__).resolve().parents[2]
ANNOTATIONS = {"$schema", "$id", "title", "description", "default", "$defs"}


def conforms(instance, schema, root) -> bool:
    """True when ``instance`` matches ``schema`` (the subset of draft 2020-12 the file uses)."""
    if isinstance(schema, bool):
        return schema
    if "$ref" in schema:
        target = root
        for part in schema["$ref"].removeprefix("#").strip("/").split("/"):
            target = target[part] if part else target
        if not conforms(instance, target, root):
            return False
    kinds = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
             "number": (int, float), "integer": int}
    if "type" in schema:
        types = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
        if not any(isinstance(instance, kinds[t]) and not (isinstance(instance, bool) and
                                                           t in ("number", "integer"))
                   for t in types):
            return False
    checks = [
        ("enum", lambda v: instance in v), ("const", lambda v: instance == v),
        ("pattern", lambda v: not isinstance(instance, str) or re.search(v, instance)),
        ("minLength", lambda v: not isinstance(instance, str) or len(instance) >= v),
        ("minimum", lambda v: not isinstance(instance, (int, float)) or instance >= v),
        ("minItems", lambda v: not isinstance(instance, list) or len(instance) >= v),
        ("required", lambda v: not isinstance(instance, dict) or all(k in instance for k in v)),
        ("allOf", lambda v: all(conforms(instance, s, root) for s in v)),
        ("anyOf", lambda v: any(conforms(instance, s, root) for s in v)),
        ("oneOf", lambda v: sum(conforms(instance, s, root) for s in v) == 1),
        ("not", lambda v: not conforms(instance, v, root)),
        ("items", lambda v: not isinstance(instance, list)
         or all(conforms(item, v, root) for item in instance)),
    ]
    if not all(check(schema[key]) for key, check in checks if key in schema):
        return False
    if isinstance(instance, dict):
        declared = schema.get("properties", {})
        for key, value in instance.items():
            if key in declared:
                if not conforms(value, declared[key], root):
                    return False
            elif "additionalProperties" in schema:
                if not conforms(value, schema["additionalProperties"], root):
                    return False
    if "if" in schema:
        branch = "then" if conforms(instance, schema["if"], root) else "else"
        return conforms(instance, schema.get(branch, True), root)
    return True


def keywords(schema, found=None):
    found = set() if found is None else found
    if isinstance(schema, dict):
        for key, value in schema.items():
            found.add(key)
            if key in ("properties", "$defs"):
                for sub in value.values():
                    keywords(sub, found)
            elif key not in ("enum", "const", "required", "default"):
                keywords(value, found)
    elif isinstance(schema, list):
        for item in schema:
            keywords(item, found)
    return found


def docs_examples():
    text = (ROOT / "docs" / "jsl.md").read_text()
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.DOTALL)]


def valid_documents():
    seed = {"id": "JOB-1", "steps": [{"id": "STEP-1", "batchlet": {"ref": "example.Batchlet"}}]}
    hello = json.loads((ROOT / "jsbus" / "examples" / "hello" / "job.json").read_text())
    lenient = {"id": "J", "restartable": "FALSE", "properties": {"n": 3, "b": True},
               "steps": [{"type": "step", "id": "A", "start-limit": "2",
                          "batchlet": {"ref": "m.A"}, "allow-start-if-complete": "true"}]}
    return [seed, hello, lenient, RICH, job_to_document(definition_from_document(RICH)),
            *docs_examples()]


def step(**extra):
    return {"id": "A", "batchlet": {"ref": "m.A"}, **extra}


def chunk(**extra):
    return {"id": "A", "chunk": {"reader": {"ref": "m.R"}, "writer": {"ref": "m.W"}, **extra}}


INVALID = [
    {"steps": [step()]},
    {"id": "J", "steps": []},
    {"id": "J", "colour": "red", "steps": [step()]},
    {"id": "J", "steps": [step(colour=1)]},
    {"id": "J", "steps": [{"id": "A"}]},
    {"id": "J", "steps": [{**step(), **chunk()}]},
    {"id": "J", "steps": [step(transitions=[{"on": "*", "action": "goto"}])]},
    {"id": "J", "steps": [step(transitions=[{"on": "*", "action": "next"}])]},
    {"id": "J", "steps": [step(transitions=[{"on": "*", "action": "end", "to": "A"}])]},
    {"id": "J", "steps": [step(transitions=[{"on": "*", "action": "fail", "restart": "A"}])]},
    {"id": "J", "steps": [step(transitions=[{"action": "end"}])]},
    {"id": "J", "steps": [step(partition={"mapper": {"ref": "m.M"}, "plan": {}})]},
    {"id": "J", "steps": [step(partition={"reducer": {"ref": "m.R"}})]},
    {"id": "J", "steps": [chunk(**{"checkpoint-policy": "custom"})]},
    {"id": "J", "steps": [chunk(**{"item-count": 0})]},
    {"id": "J", "steps": [chunk(**{"time-limit": -1})]},
    {"id": "J", "steps": [chunk(**{"skippable-exception-classes": {"include": [1]}})]},
    {"id": "J", "steps": [{"type": "split", "id": "S", "flows": [{"type": "step", **step()}]}]},
    {"id": "J", "steps": [{"type": "decision", "id": "D"}]},
    {"id": "J", "steps": [{"type": "flow", "id": "F", "steps": []}]},
    {"id": "J", "steps": [{"type": "loop", "id": "L"}]},
    {"id": "J", "steps": [step(properties={"x": ["list"]})]},
    {"id": "J", "restartable": "yes", "steps": [step()]},
    {"id": "bad id", "steps": [step()]},
]


def test_schema_is_packaged_and_parsed():
    schema = jsl.schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$ref"] == "#/$defs/job"
    schema["$defs"].clear()
    assert jsl.schema()["$defs"], "each call returns a fresh copy"


def test_checker_knows_every_keyword_the_schema_uses():
    supported = {"$ref", "type", "enum", "const", "pattern", "minLength", "minimum", "minItems",
                 "required", "allOf", "anyOf", "oneOf", "not", "items", "properties",
                 "additionalProperties", "if", "then", "else"}
    assert keywords(jsl.schema()) <= supported | ANNOTATIONS


@pytest.mark.parametrize("index", range(len(valid_documents())))
def test_documents_the_codec_reads_conform(index):
    document = valid_documents()[index]
    definition_from_document(copy.deepcopy(document))
    schema = jsl.schema()
    assert conforms(document, schema, schema)


@pytest.mark.parametrize("document", INVALID, ids=[str(i) for i in range(len(INVALID))])
def test_documents_the_codec_refuses_do_not_conform(document):
    with pytest.raises(JobDefinitionError):
        definition_from_document(copy.deepcopy(document))
    schema = jsl.schema()
    assert not conforms(document, schema, schema)


def test_with_jsonschema_when_it_is_installed():
    jsonschema = pytest.importorskip("jsonschema")
    schema = jsl.schema()
    validator_class = jsonschema.Draft202012Validator
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    for document in valid_documents():
        validator.validate(document)
    for document in INVALID:
        assert not validator.is_valid(document), document


# JSON keys of model fields whose key is not the field name with "_" written "-".
RENAMED = {("Job", "elements"): "steps", ("Flow", "elements"): "steps",
           ("Decision", "decider"): "ref",
           ("Chunk", "skippable"): "skippable-exception-classes",
           ("Chunk", "retryable"): "retryable-exception-classes",
           ("Chunk", "no_rollback"): "no-rollback-exception-classes"}
DEFINITIONS = {"Job": "job", "Step": "step", "Flow": "flow", "Split": "split",
               "Decision": "decision", "Ref": "artifact", "Transition": "transition",
               "ExceptionClasses": "exceptionClasses", "Chunk": "chunk", "Partition": "partition",
               "PartitionPlan": "plan"}


def test_every_model_field_is_in_the_schema():
    definitions = jsl.schema()["$defs"]
    classes = [value for value in vars(model).values()
               if dataclasses.is_dataclass(value) and isinstance(value, type)]
    assert {cls.__name__ for cls in classes} == set(DEFINITIONS)
    for cls in classes:
        declared = definitions[DEFINITIONS[cls.__name__]]["properties"]
        for field in dataclasses.fields(cls):
            key = RENAMED.get((cls.__name__, field.name), field.name.replace("_", "-"))
            assert key in declared, f"{cls.__name__}.{field.name} ({key}) is not in the schema"
    assert set(definitions["transition"]["properties"]["action"]["enum"]) == set(
        model.TRANSITION_ACTIONS)
