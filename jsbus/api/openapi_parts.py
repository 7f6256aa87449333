"""Small builders for the OpenAPI document of ``GET /openapi.json``: parameters, bodies,
responses and operations, so that ``openapi_paths`` reads like a table of the routes."""
from __future__ import annotations

from typing import Any

MESSAGES = "#/components/schemas/Messages"
JOB_SCHEMA = "/schemas/job.json"  # the JSON Schema of job documents, served by the bus itself

# What an error answer may mean, whatever the route: the README's "REST API" section.
ERROR_MEANINGS = {
    "400": "a malformed parameter or body; every message names the field",
    "404": "an unknown application, job, execution, agent, schedule or calendar",
    "406": "no job document form matches the Accept header",
    "409": "the request conflicts with the current state",
    "413": "the body is larger than the bus accepts",
    "415": "the Content-Type is not accepted here",
    "502": "an agent could not be reached",
    "503": "storage is unavailable",
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


def paging(default_limit: int = 20, max_limit: int = 1000) -> list[dict[str, Any]]:
    return [query("offset", "How many results to skip; counts from 0.",
                  {"type": "integer", "minimum": 0, "default": 0}),
            query("limit", "At most this many results.",
                  {"type": "integer", "minimum": 1, "maximum": max_limit,
                   "default": default_limit})]


# Every JSON body and answer may also be EDN (Content-Type / Accept: application/edn), in the
# original's shapes: the same keys as keywords, enums as {:db/ident ...}, #inst times, #uuid ids.
EDN = {"application/edn": {"schema": {
    "description": "The same document in EDN, in the original's shapes: keys as keywords "
                   "(:job/name), enums as {:db/ident :batch-status/completed}, times as "
                   "#inst, agent ids as #uuid."}}}


def json_body(schema: dict[str, Any], description: str = "",
              required: bool = True) -> dict[str, Any]:
    return {"required": required, "description": description,
            "content": {"application/json": {"schema": schema}, **EDN}}


def answer(description: str, schema: dict[str, Any] | None = None,
           media: str = "application/json", headers: dict | None = None) -> dict[str, Any]:
    """One response; without ``schema``, one without a body (``204``)."""
    body: dict[str, Any] = {"description": description}
    if schema is not None:
        body["content"] = {media: {"schema": schema}, **(EDN if media == "application/json"
                                                        else {})}
    if headers:
        body["headers"] = {name: {"description": text, "schema": {"type": "string"}}
                           for name, text in headers.items()}
    return body


LOCATION = {"Location": "The path of what was created."}


def operation(summary: str, tag: str, responses: dict[str, Any], errors: tuple[str, ...] = (),
              parameters: list | None = None, body: dict | None = None,
              description: str = "") -> dict[str, Any]:
    """An operation; ``errors`` are the 4xx/5xx status codes it may answer with (503 always),
    each a ``Messages`` body."""
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": dict(responses)}
    if description:
        op["description"] = description
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = body
    for code in sorted(set(errors) | {"503"}):
        op["responses"].setdefault(code, answer(ERROR_MEANINGS[code], {"$ref": MESSAGES}))
    return op


def path_parameter(name: str, schema_type: str = "string",
                   description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": schema_type}}
