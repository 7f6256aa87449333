"""``GET /openapi.json`` against the app itself: every route and method of falcon's route table
is described (and nothing else), every ``$ref`` resolves, and real answers validate against the
described schemas (jsonschema, Draft 2020-12) through falcon's TestClient over a real Bus."""
from __future__ import annotations

import base64

import re
from urllib.parse import quote

import falcon.testing
import pytest
from jsonschema import Draft202012Validator
from nacl.public import PrivateKey
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from jsbus.api.app import create_app
from jsbus.api.openapi import install
from tests.conftest import admin_headers

pytestmark = pytest.mark.timeout(60)

BASE = "http://bus.test/"  # where the validator pretends the documents live
METHODS = ("get", "post", "put", "delete", "patch")
FIELD = re.compile(r"\{(\w+)(?::(\w+)(?:\([^)]*\))?)?\}")


def make_app(bus) -> falcon.App:
    """The app as ``create_app`` builds it, with ``/openapi.json`` whether or not it routes it."""
    app = create_app(bus)
    if app._router.find("/openapi.json") is None:
        install(app)
    return app


@pytest.fixture
def app(bus):
    return make_app(bus)


@pytest.fixture
def client(app, bus):
    """Overrides conftest's, so that ``deployed`` goes through this app too."""
    return falcon.testing.TestClient(app, headers=admin_headers(bus))


@pytest.fixture
def doc(client):
    response = client.simulate_get("/openapi.json")
    assert response.status_code == 200
    return response.json


@pytest.fixture
def job_schema(client):
    response = client.simulate_get("/schemas/job.json")
    assert response.status_code == 200
    return response.json


# -- the document on its own ------------------------------------------------------------------

def refs(node, where="#"):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield where, value
            else:
                yield from refs(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from refs(value, f"{where}/{index}")


def pointer(doc, ref):
    node = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def operations(doc):
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def test_the_document_is_openapi_3_1_and_every_ref_resolves(client, doc, job_schema):
    assert doc["openapi"].startswith("3.1")
    assert doc["info"]["title"] and doc["info"]["version"]
    found = list(refs(doc))
    assert any(ref == "/schemas/job.json" for _, ref in found)
    for where, ref in found:
        if ref.startswith("#/"):
            try:
                pointer(doc, ref)
            except (KeyError, IndexError, TypeError):
                pytest.fail(f"{where}: $ref {ref} does not resolve")
        else:
            answer = client.simulate_get(ref)
            assert answer.status_code == 200, f"{where}: $ref {ref} is not served"
            assert answer.json == job_schema


def test_every_path_parameter_is_declared_and_every_error_is_messages(doc):
    messages = "#/components/schemas/Messages"
    for path, method, operation in operations(doc):
        declared = {p["name"]: p for p in doc["paths"][path].get("parameters", [])
                    + operation.get("parameters", []) if p["in"] == "path"}
        named = set(re.findall(r"\{(\w+)\}", path))
        assert set(declared) == named, f"{method.upper()} {path}: path parameters {declared}"
        assert all(p["required"] is True and p["schema"]["type"] for p in declared.values())
        assert operation["responses"], f"{method.upper()} {path} has no responses"
        for status, response in operation["responses"].items():
            if status[0] in "45":
                assert messages in [ref for _, ref in refs(response)], \
                    f"{method.upper()} {path} {status} is not a Messages answer"
            elif status != "204":
                assert response.get("content"), f"{method.upper()} {path} {status}: no schema"


def test_the_parameters_the_resources_read_are_described(doc):
    def query(path, method="get"):
        return {p["name"]: p for p in doc["paths"][path][method].get("parameters", [])
                if p["in"] == "query"}
    jobs = query("/{app}/jobs")
    assert set(jobs) == {"q", "with", "sort-by", "offset", "limit"}
    assert "from 0" in jobs["offset"]["description"] and jobs["offset"]["schema"]["minimum"] == 0
    assert set(query("/{app}/job/{job}/executions")) == {"batch-status", "offset", "limit"}
    assert set(query("/{app}/job/{job}/execution/{execution_id}/logs")) == {
        "step", "offset", "limit"}
    assert set(query("/agent/{instance_id}/monitor/{kind}")) == {"since", "limit"}
    assert set(query("/{app}/job/{job}/schedule/fires")) == {"n", "from"}
    assert set(query("/app/{name}", "delete")) == {"cascade"}
    bodies = {(path, method): op["requestBody"]["content"]
              for path, method, op in operations(doc) if "requestBody" in op}
    assert "multipart/form-data" in bodies[("/{app}/batch-components", "post")]
    assert {"application/json", "application/edn", "application/xml"} <= set(
        bodies[("/{app}/jobs", "post")])
    for path in ("/apps", "/{app}/job/{job}/schedule", "/calendars",
                 "/{app}/job/{job}/executions"):
        assert "$ref" in bodies[(path, "post")]["application/json"]["schema"], path


# -- the document against falcon's route table --------------------------------------------------

def routed(app):
    """(URI template, method) of every responder a resource implements, from falcon's compiled
    router; falcon's own defaults (405, OPTIONS) are not the resource's methods."""
    pairs, nodes = set(), list(app._router._roots)
    while nodes:
        node = nodes.pop()
        nodes.extend(node.children)
        for method, responder in (node.method_map or {}).items():
            if node.resource is not None and getattr(responder, "__self__", None) is node.resource:
                pairs.add((node.uri_template, method.lower()))
    return pairs


def parameter_types(doc, path):
    return {p["name"]: p["schema"]["type"] for p in doc["paths"][path].get("parameters", [])}


def concrete(doc, path):
    """A request path for a documented path: 7 for integer parameters, x1 for the rest."""
    types = parameter_types(doc, path)
    return re.sub(r"\{(\w+)\}", lambda m: "7" if types.get(m.group(1)) == "integer" else "x1",
                  path)


def test_the_document_lists_exactly_the_routes_and_methods_of_the_app(app, doc):
    table = routed(app)
    assert ("/{app}/jobs/download", "get") in table and ("/openapi.json", "get") in table
    covered, problems = set(), []
    for path, method, _ in operations(doc):
        types = parameter_types(doc, path)
        found = app._router.find(concrete(doc, path))
        if found is None or (found[3], method) not in table:
            problems.append(f"the document lists {method.upper()} {path}, the app has no such "
                            f"route and method")
            continue
        template = found[3]
        covered.add((template, method))
        for name, converter in FIELD.findall(template):
            expected = {"int": "integer", "float": "number"}.get(converter, "string")
            if name in types and types[name] != expected:
                problems.append(f"{path}: {{{name}}} is {types[name]}, falcon converts it to "
                                f"{expected}")
    for template, method in sorted(table - covered):
        problems.append(f"the app routes {method.upper()} {template}, the document does not "
                        f"describe it")
    assert not problems, "\n".join(problems)


def test_a_route_added_to_the_app_and_not_described_is_named(bus, doc):
    class Extra:
        def on_get(self, req, resp):
            pass

        def on_delete_thing(self, req, resp, app):
            pass

    app = make_app(bus)
    app.add_route("/extra", Extra())
    app.add_route("/{app}/extra", Extra(), suffix="thing")
    found = {(p, m): app._router.find(concrete(doc, p)) for p, m, _ in operations(doc)}
    documented = {(route[3], m) for (_, m), route in found.items() if route is not None}
    assert {("/extra", "get"), ("/{app}/extra", "delete")} <= routed(app) - documented


# -- real answers against the described schemas -------------------------------------------------

class Answers:
    """Checks answers against the schema the document gives for their path, method and status."""

    def __init__(self, client, doc, job_schema):
        self.client, self.doc = client, doc
        job = DRAFT202012.create_resource(job_schema)
        self.registry = Registry().with_resources([
            (f"{BASE}openapi.json", DRAFT202012.create_resource(doc)),
            (f"{BASE}schemas/job.json", job), (job_schema["$id"], job)])

    def schema_pointer(self, path, method, status):
        responses = self.doc["paths"][path][method]["responses"]
        assert str(status) in responses, f"{method.upper()} {path}: {status} is not described"
        segments = ["paths", path, method, "responses", str(status), "content",
                    "application/json", "schema"]
        return "/" + "/".join(s.replace("~", "~0").replace("/", "~1") for s in segments)

    def check(self, method, path, url, status, **kwargs):
        """Send ``method url``; its status must be ``status`` and its body valid."""
        response = getattr(self.client, f"simulate_{method}")(url, **kwargs)
        assert response.status_code == status, (method, url, response.text)
        ref = f"{BASE}openapi.json#{quote(self.schema_pointer(path, method, status))}"
        validator = Draft202012Validator({"$ref": ref}, registry=self.registry)
        problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                    for e in validator.iter_errors(response.json)]
        assert not problems, f"{method.upper()} {url}:\n" + "\n".join(problems)
        return response.json


@pytest.fixture
def answers(client, doc, job_schema):
    return Answers(client, doc, job_schema)


HEARTBEAT = {"agent/instance-id": "a-1", "agent/name": "agent-a-1", "agent/host": "127.0.0.1",
             "agent/port": 4510, "agent/capacity": 2, "agent/jobs": {"running": 0},
             "agent/stats": {"memory": {"physical": {"free": 1000, "total": 4000}}}}
JOB = {"id": "JOB-2", "steps": [{"id": "S1", "batchlet": {"ref": "unit_batch.Noop"}}]}


def test_status_application_and_job_answers_match_their_schemas(answers, deployed):
    app, job = deployed
    check = answers.check
    check("get", "/version", "/version", 200)
    check("get", "/healthcheck", "/healthcheck", 200)
    check("get", "/openapi.json", "/openapi.json", 200)
    assert check("get", "/apps", "/apps", 200)[0]["application/name"] == app
    check("get", "/app/{name}", f"/app/{app}", 200)
    check("get", "/{app}/stats", f"/{app}/stats", 200)
    check("get", "/{app}/batch-components", f"/{app}/batch-components", 200)
    check("post", "/{app}/jobs", f"/{app}/jobs", 201, json=JOB)
    listed = check("get", "/{app}/jobs", f"/{app}/jobs", 200)
    assert listed["hits"] == 2
    check("get", "/{app}/jobs", f"/{app}/jobs", 200,
          params={"with": "execution,schedule,settings,notation", "sort-by": "name:desc"})
    download = check("get", "/{app}/jobs/download", f"/{app}/jobs/download", 200)
    assert check("post", "/{app}/jobs", f"/{app}/jobs", 200,
                 json=download)["replaced"] == ["JOB-1", "JOB-2"]
    check("get", "/{app}/job/{job}", f"/{app}/job/{job}", 200)
    check("put", "/{app}/job/{job}/settings/exclusive", f"/{app}/job/{job}/settings/exclusive",
          200)
    check("put", "/{app}/job/{job}", f"/{app}/job/JOB-2", 200, json=JOB)
    check("delete", "/app/{name}", f"/app/{app}", 200, params={"cascade": "true"})


def test_execution_answers_match_their_schemas(answers, deployed):
    app, job = deployed
    check, base = answers.check, f"/{app}/job/{job}"
    execution = "/{app}/job/{job}/execution/{execution_id}"
    run = check("post", "/{app}/job/{job}/executions", f"{base}/executions", 201,
                json={"day": "2026-11-29", "retries": 3, "dry": True})
    number = run["job-execution/execution-id"]
    assert run["job-execution/job-parameters"] == {"day": "2026-11-29", "retries": "3",
                                                   "dry": "true"}
    page = check("get", "/{app}/job/{job}/executions", f"{base}/executions", 200)
    assert [e["job-execution/execution-id"] for e in page["results"]] == [number]
    check("get", execution, f"{base}/execution/{number}", 200)
    check("get", f"{execution}/logs", f"{base}/execution/{number}/logs", 200,
          params={"step": "STEP-1", "offset": 0, "limit": 5})
    check("get", "/{app}/job/{job}", f"{base}", 200)  # with its latest execution now


def test_agent_schedule_and_calendar_answers_match_their_schemas(answers, deployed):
    app, job = deployed
    check, base = answers.check, f"/{app}/job/{job}/schedule"
    check("post", "/agent/{instance_id}/heartbeat", "/agent/a-1/heartbeat", 200, json=HEARTBEAT)
    assert check("get", "/agents", "/agents", 200)[0]["agent/instance-id"] == "a-1"
    check("get", "/agent/{instance_id}", "/agent/a-1", 200)
    check("put", "/agent/{instance_id}/block", "/agent/a-1/block", 200)
    check("get", "/agent/{instance_id}/monitor/{kind}", "/agent/a-1/monitor/memory", 200)
    # Agent trust: a-1 sent no public key, so it cannot be approved (409); a-2 can.
    check("put", "/agent/{instance_id}/approve", "/agent/a-1/approve", 409)
    key = base64.b64encode(bytes(PrivateKey.generate().public_key)).decode()
    check("post", "/agent/{instance_id}/heartbeat", "/agent/a-2/heartbeat", 200,
          json={**HEARTBEAT, "agent/instance-id": "a-2", "agent/public-key": key})
    check("put", "/agent/{instance_id}/approve", "/agent/a-2/approve", 200)
    enrolled = check("post", "/agent/{instance_id}/heartbeat", "/agent/a-2/heartbeat", 200,
                     json={**HEARTBEAT, "agent/instance-id": "a-2", "agent/public-key": key})
    assert enrolled["enrollment"]["sealed-secret"]
    check("delete", "/agent/{instance_id}", "/agent/a-2", 200)
    check("post", "/agent/{instance_id}/heartbeat", "/agent/a-2/heartbeat", 403,
          json={**HEARTBEAT, "agent/instance-id": "a-2", "agent/public-key": key})
    check("post", "/agent/{instance_id}/events", "/agent/a-1/events", 401, json={"events": []})
    token = check("post", "/agents/join-tokens", "/agents/join-tokens", 201, json={"ttl": 60})
    assert check("get", "/agents/join-tokens", "/agents/join-tokens", 200)[0][
        "join-token/id"] == token["join-token/id"]
    deleted = answers.client.simulate_delete(f"/agents/join-token/{token['join-token/id']}")
    assert deleted.status_code == 204
    check("delete", "/agents/join-token/{token_id}", "/agents/join-token/999", 404)
    calendar = {"calendar/name": "weekdays", "calendar/holidays": ["2026-12-25"],
                "calendar/weekly-holiday": [True, False, False, False, False, False, True]}
    check("post", "/calendars", "/calendars", 201, json=calendar)
    assert check("get", "/calendars", "/calendars", 200)[0]["calendar/name"] == "weekdays"
    check("get", "/calendar/{name}", "/calendar/weekdays", 200)
    check("post", "/{app}/job/{job}/schedule", base, 201,
          json={"schedule/cron-notation": "0 0 12 * * ?", "schedule/calendar": "weekdays",
                "schedule/time-zone": "Europe/Berlin"})
    check("get", "/{app}/job/{job}/schedule", base, 200)
    check("put", "/{app}/job/{job}/schedule/pause", f"{base}/pause", 200)
    check("put", "/{app}/job/{job}/schedule/resume", f"{base}/resume", 200)
    fires = check("get", "/{app}/job/{job}/schedule/fires", f"{base}/fires", 200,
                  params={"n": 3, "from": "2026-12-24T00:00:00Z"})
    assert len(fires["fires"]) == 3
    check("get", "/{app}/job/{job}/schedule/history", f"{base}/history", 200)
    check("get", "/{app}/job/{job}", f"/{app}/job/{job}", 200)  # with its schedule now


def test_error_answers_match_the_messages_schema(answers, deployed):
    app, job = deployed
    check = answers.check
    check("get", "/{app}/jobs", f"/{app}/jobs", 400, params={"sort-by": "colour:asc"})
    check("post", "/apps", "/apps", 400, json={"classpath": []})
    check("get", "/app/{name}", "/app/nope", 404)
    check("get", "/{app}/job/{job}", f"/{app}/job/NOPE", 404)
    check("get", "/{app}/job/{job}/execution/{execution_id}", f"/{app}/job/{job}/execution/99",
          404)
    check("get", "/agent/{instance_id}/monitor/{kind}", "/agent/nope/monitor/memory", 404)
    check("post", "/apps", "/apps", 415, body="x", headers={"content-type": "text/plain"})
    check("delete", "/app/{name}", f"/app/{app}", 409)


def validator_for(answers, path, method, status):
    ref = f"{BASE}openapi.json#{quote(answers.schema_pointer(path, method, status))}"
    return Draft202012Validator({"$ref": ref}, registry=answers.registry)


def renamed(body, key):
    return {(f"{k}-renamed" if k == key else k): v for k, v in body.items()}


@pytest.mark.parametrize("path, url, key", [
    ("/version", "/version", "version"),
    ("/{app}/job/{job}", "/shop/job/JOB-1", "job/stats"),
    ("/{app}/job/{job}/executions", "/shop/job/JOB-1/executions", "hits"),
    ("/app/{name}", "/app/nope", "messages"),
])
def test_a_renamed_key_fails_validation(answers, client, deployed, path, url, key):
    """The schemas are strict enough to notice a real answer with one key renamed."""
    response = client.simulate_get(url)
    validator = validator_for(answers, path, "get", response.status_code)
    assert validator.is_valid(response.json)
    assert not validator.is_valid(renamed(response.json, key))


def test_job_documents_are_checked_against_the_served_job_schema(answers, client, deployed):
    app, job = deployed
    body = client.simulate_get(f"/{app}/job/{job}").json
    validator = validator_for(answers, "/{app}/job/{job}", "get", 200)
    assert validator.is_valid(body)
    assert not validator.is_valid(dict(body, **{"job/document": {"id": 5, "steps": "none"}}))
    run = client.simulate_post(f"/{app}/job/{job}/executions").json
    execution = client.simulate_get(
        f"/{app}/job/{job}/execution/{run['job-execution/execution-id']}").json
    validator = validator_for(answers, "/{app}/job/{job}/execution/{execution_id}", "get", 200)
    assert validator.is_valid(execution)
    broken = dict(execution, **{"job-execution/step-executions": [{"step-name": "renamed"}]})
    assert not validator.is_valid(broken)
