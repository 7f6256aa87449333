"""``GET /openapi.json``: an OpenAPI 3.1 document of every route, method, parameter, body and
answer of the REST API. ``install(app)`` adds the route to an app ``create_app`` built."""
from __future__ import annotations

import copy
import re
from typing import Any

import falcon

from jsbus import __version__
from jsbus.api.openapi_auth import AUTH_PATHS, AUTH_SCHEMAS, SECURITY_SCHEMES, secure
from jsbus.api.openapi_parts import path_parameter
from jsbus.api.openapi_paths import PATH_PARAMETERS, PATHS
from jsbus.api.openapi_schemas import SCHEMAS

# falcon's field expressions: {name}, {name:int}, {name:int(4)}, {name:uuid}, ...
FIELD = re.compile(r"\{(\w+)(?::(\w+)(?:\([^)]*\))?)?\}")
CONVERTER_TYPES = {"int": "integer", "float": "number"}
PATH_SCHEMAS = {"kind": {"type": "string", "enum": ["memory", "cpu"]}}


def openapi_path(template: str) -> tuple[str, list[dict[str, Any]]]:
    """A falcon URI template as an OpenAPI path and its typed path parameters."""
    parameters = []
    for match in FIELD.finditer(template):
        name, converter = match.group(1), match.group(2)
        parameter = path_parameter(name, CONVERTER_TYPES.get(converter, "string"),
                                   PATH_PARAMETERS.get(name, ""))
        if name in PATH_SCHEMAS:
            parameter["schema"] = dict(PATH_SCHEMAS[name])
        parameters.append(parameter)
    return FIELD.sub(r"{\1}", template), parameters


def document() -> dict[str, Any]:
    """The OpenAPI document, built afresh."""
    paths = {}
    for template, operations in {**PATHS, **AUTH_PATHS}.items():
        path, parameters = openapi_path(template)
        item = copy.deepcopy(operations)
        for method, operation in item.items():
            secure(template, method, operation)
        if parameters:
            item["parameters"] = parameters
        paths[path] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": "jsbus", "version": __version__,
                 "description": "A control bus for batch jobs. JSON in and out with namespaced "
                                "keys (`job/name`); times are RFC 3339 UTC; every error is "
                                "`{\"messages\": [...]}`."},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {"schemas": copy.deepcopy({**SCHEMAS, **AUTH_SCHEMAS}),
                       "securitySchemes": copy.deepcopy(SECURITY_SCHEMES)},
    }


class OpenApiResource:
    def __init__(self):
        self.document = document()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.document


def install(app: falcon.App) -> None:
    """Route ``GET /openapi.json`` on ``app``."""
    app.add_route("/openapi.json", OpenApiResource())
