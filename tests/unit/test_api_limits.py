"""``[limits]``: every body the API reads (JSON, EDN, Job XML) and the query parameters are
bounded; each violation is a 400 (413 for the size) whose message names where it is, and a
hostile body (deep nesting, entity expansion) never takes the app down."""
from __future__ import annotations

import json

import edn_format
import pytest

pytestmark = pytest.mark.timeout(60)

DEPTH, STRING, ITEMS, QUERY = 8, 300, 20, 64
JSON, EDN, XML = "application/json", "application/edn", "application/xml"


@pytest.fixture
def bus_config(bus_config):
    return bus_config.with_overrides({"limits.max_depth": DEPTH, "limits.max_string": STRING,
                                      "limits.max_items": ITEMS, "limits.max_query_chars": QUERY,
                                      "bus.max_body_bytes": 200_000})


def nested(depth: int, leaf="x"):
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def job(properties=None, step_id="s", name="J"):
    batchlet = {"ref": "unit_batch.Noop"}
    if properties is not None:
        batchlet["properties"] = properties
    return {"id": name, "steps": [{"id": step_id, "batchlet": batchlet}]}


def encode(value, kind):
    if kind == JSON:
        return json.dumps(value)
    return edn_format.dumps(value)


def post(client, path, value, kind=JSON, method="POST"):
    body = value if isinstance(value, str) else encode(value, kind)
    return client.simulate_request(method, path, body=body, headers={"Content-Type": kind})


def refused(response, *fragments, status=400):
    assert response.status_code == status, (response.status_code, response.text)
    message = " ".join(response.json["messages"])
    for fragment in fragments:
        assert fragment in message, message


# --- object bodies (JSON and EDN) --------------------------------------------------------------

OBJECT_CASES = {
    "depth": ({"name": "a", "classpath": [], "description": nested(DEPTH + 2)},
              ("nested deeper than 8", "limits.max_depth")),
    "string": ({"name": "a", "classpath": [], "description": "d" * (STRING + 1)},
               ("body.description", "301 characters", "limits.max_string")),
    "key": ({"name": "a", "classpath": [], "k" * (STRING + 1): 1},
            ("a key of 301 characters",)),
    "items": ({"name": "a", "classpath": [f"file:///x{i}" for i in range(ITEMS + 1)]},
              ("body.classpath", "a list of 21 items", "limits.max_items")),
    "object": ({f"k{i}": i for i in range(ITEMS + 1)}, ("body: an object of 21 items",)),
}


@pytest.mark.parametrize("kind", [JSON, EDN])
@pytest.mark.parametrize("case", sorted(OBJECT_CASES))
def test_object_bodies_are_bounded(client, kind, case):
    value, fragments = OBJECT_CASES[case]
    refused(post(client, "/apps", value, kind), *fragments)


@pytest.mark.parametrize("kind", [JSON, EDN])
@pytest.mark.parametrize("path", ["/shop/job/JOB-1/executions", "/calendars"])
def test_every_route_reading_an_object_is_bounded(client, deployed, kind, path):
    refused(post(client, path, {"p": "v" * (STRING + 1)}, kind), "body.p", "limits.max_string")
    refused(post(client, path, {"p": nested(DEPTH + 1)}, kind), "limits.max_depth")


def test_query_parameters_are_bounded(client, deployed):
    for name in ("q", "sort-by", "with"):
        response = client.simulate_get("/shop/jobs", params={name: "n" * (QUERY + 1)})
        refused(response, f"query parameter {name}", "limits.max_query_chars")
    assert client.simulate_get("/shop/jobs", params={"q": "JOB"}).status_code == 200


def test_a_body_over_max_body_bytes_is_413(client):
    response = post(client, "/apps", {"name": "a", "description": "d" * 250_000})
    assert response.status_code == 413


# --- job documents (JSON, EDN, Job XML) ----------------------------------------------------

def xml_job(properties: int = 1, value: str = "v", depth: int = 0, text: str = "") -> str:
    props = "".join(f'<property name="p{i}" value="{value}"/>' for i in range(properties))
    deep = "<listeners>" * depth + "</listeners>" * depth
    return (f'<job id="J" xmlns="https://jakarta.ee/xml/ns/jakartaee" version="2.0">{deep}'
            f'<step id="s"><batchlet ref="unit_batch.Noop"><properties>{props}</properties>'
            f'</batchlet>{text}</step></job>')


DOCUMENT_CASES = {
    "depth": (lambda: job({"p": "v"}) | {"x": nested(DEPTH)}, "limits.max_depth"),
    "string": (lambda: job({"p": "v" * (STRING + 1)}), "limits.max_string"),
    "items": (lambda: job({f"p{i}": "v" for i in range(ITEMS + 1)}), "limits.max_items"),
}
XML_CASES = {
    "depth": (lambda: xml_job(depth=DEPTH), "limits.max_depth"),
    "string": (lambda: xml_job(value="v" * (STRING + 1)), "limits.max_string"),
    "text": (lambda: xml_job(text="t" * (STRING + 1)), "limits.max_string"),
    "items": (lambda: xml_job(properties=ITEMS + 1), "limits.max_items"),
}


@pytest.mark.parametrize("method, path", [("POST", "/shop/jobs"), ("PUT", "/shop/job/J")])
@pytest.mark.parametrize("kind", [JSON, EDN, XML])
@pytest.mark.parametrize("case", ["depth", "string", "items"])
def test_job_documents_are_bounded(client, deployed, method, path, kind, case):
    if method == "PUT":
        assert post(client, "/shop/jobs", job()).status_code == 201
    if kind == XML:
        body, fragment = XML_CASES[case]
        body = body()
    else:
        build, fragment = DOCUMENT_CASES[case]
        body = encode(build(), kind)
    response = post(client, path, body, kind, method)
    refused(response, fragment)
    assert "document" in response.json["messages"][0] or "body" in response.json["messages"][0]


def test_xml_text_and_a_good_document_within_the_limits(client, deployed):
    refused(post(client, "/shop/jobs", XML_CASES["text"][0](), XML), "document: <job/step>")
    assert post(client, "/shop/jobs", xml_job(), XML).status_code == 201
    assert post(client, "/shop/jobs", job({"p": "v"}, name="J2")).status_code == 201
    assert post(client, "/shop/jobs", job({"p": "v"}, name="J3"), EDN).status_code == 201


def test_an_import_list_is_bounded(client, deployed):
    jobs = [job(name=f"J{i}") for i in range(ITEMS + 1)]
    refused(post(client, "/shop/jobs", jobs), "body: a list of 21 items")
    refused(post(client, "/shop/jobs", jobs, EDN), "body: a list of 21 items")


BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
                  '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
                  '<job id="&lol3;"/>')
EXTERNAL = ('<?xml version="1.0"?><!DOCTYPE job [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
            '<job id="J"><step id="&xxe;"/></job>')


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL, '<job id="&undefined;"/>'])
def test_entity_expansion_and_external_entities_are_refused(client, deployed, body):
    response = post(client, "/shop/jobs", body, XML)
    assert response.status_code == 400
    assert "root:" not in response.text


@pytest.mark.parametrize("kind, body", [
    (JSON, "[" * 100_000 + "]" * 100_000),
    (JSON, '{"a":' * 30_000 + "1" + "}" * 30_000),
    (EDN, "[" * 100_000 + "]" * 100_000),
    (EDN, "{:a " * 30_000 + "1" + "}" * 30_000),
    (EDN, "(" * 60_000 + ")" * 60_000),
    (XML, "<a>" * 20_000 + "</a>" * 20_000),
])
@pytest.mark.parametrize("path", ["/apps", "/shop/jobs"])
def test_deeply_nested_bodies_are_400_and_the_app_keeps_answering(client, deployed, kind, body,
                                                                   path):
    response = post(client, path, body, kind)
    assert response.status_code in (400, 415), response.text
    if response.status_code == 400:
        assert "nested deeper than 8" in response.text or "malformed" in response.text.lower()
    assert client.simulate_get("/healthcheck").status_code == 200
    assert post(client, "/shop/jobs", job(name="AFTER")).status_code in (200, 201)


def test_limits_are_in_the_configuration():
    from jsbus.config import BUS_DEFAULTS
    assert BUS_DEFAULTS["limits"] == {"max_depth": 32, "max_string": 65_536,
                                      "max_items": 10_000, "max_query_chars": 2_048}
