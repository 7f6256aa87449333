"""The part of ``GET /openapi.json`` about logins and users, and the security of every
operation: which credentials it takes and which permission it needs (from
``jsbus.auth.permissions.ROUTES``, the table the API enforces)."""
from __future__ import annotations

from typing import Any

from jsbus.api.openapi_parts import LOCATION, answer, json_body, operation as op, ref
from jsbus.auth.permissions import AGENT, PUBLIC, SIGNED_IN, ROLES, rule_for

STRING = {"type": "string"}
MESSAGES = {"$ref": "#/components/schemas/Messages"}
MEMBERSHIPS = {"type": "object", "additionalProperties": {
    "type": "array", "items": {"enum": list(ROLES)}},
    "description": "Roles by application; `*` is every application."}

AUTH_SCHEMAS: dict[str, Any] = {
    "Credentials": {"type": "object", "required": ["user/id", "user/password"],
                    "properties": {"user/id": STRING, "user/password": STRING}},
    "Token": {"type": "object", "required": ["token"], "properties": {"token": STRING}},
    "User": {"type": "object", "required": ["user/id", "user/memberships"],
             "properties": {"user/id": STRING, "user/memberships": MEMBERSHIPS}},
    "UserRequest": {"type": "object", "properties": {
        "user/id": {"type": "string", "minLength": 3, "maxLength": 20,
                    "pattern": "^[\\w\\-]+$"},
        "user/password": {"type": "string", "minLength": 8},
        "user/memberships": MEMBERSHIPS,
        "role": {"enum": list(ROLES), "description": "The original's form: one role ..."},
        "application": {"type": "string", "description": "... in this application (default "
                                                         "`*`, every one)"}}},
    "Account": {"type": "object", "required": ["user/id", "applications"], "properties": {
        "user/id": STRING, "applications": {"type": "object", "additionalProperties": {
            "type": "object", "properties": {
                "application/name": STRING, "roles": {"type": "array", "items": STRING},
                "permissions": {"type": "array", "items": STRING}}}}}},
}

AUTH_PATHS: dict[str, Any] = {
    "/auth": {
        "post": op("Log in: a token, and the session cookie `jsbus-session`", "auth",
                   {"201": answer("Logged in", ref("Token")),
                    "401": answer("Authentication failure.", MESSAGES)}, ("400", "413", "415"),
                   body=json_body(ref("Credentials"), "Who and their password")),
        "delete": op("Log out: revoke the token presented (header or cookie), clear the cookie",
                     "auth", {"204": answer("Logged out")})},
    "/account": {"get": op("Who is logged in, with roles and permissions per application",
                           "auth", {"200": answer("OK", ref("Account"))})},
    "/users": {"get": op("Every user", "auth", {"200": answer("OK", {
        "type": "array", "items": ref("User")})})},
    "/user": {"post": op("Create a user", "auth", {
        "201": answer("Created", ref("User"), headers=LOCATION)}, ("400", "413", "415"),
        body=json_body(ref("UserRequest"), "The user: id, password, roles"))},
    "/user/{user_id}": {
        "get": op("One user", "auth", {"200": answer("OK", ref("User"))}, ("404",)),
        "put": op("A new password and/or memberships (what is left out stays)", "auth",
                  {"200": answer("OK", ref("User"))}, ("400", "404", "409", "413", "415"),
                  body=json_body(ref("UserRequest"), "What changes")),
        "delete": op("Delete a user and revoke their tokens (409 for the last admin)", "auth",
                     {"204": answer("Deleted")}, ("404", "409"))},
}

SECURITY_SCHEMES = {
    "token": {"type": "http", "scheme": "bearer",
              "description": "`Authorization: Bearer <token>` (or the original's "
                             "`Authorization: Token <token>`), from `POST /auth`"},
    "session": {"type": "apiKey", "in": "cookie", "name": "jsbus-session",
                "description": "Set by `POST /auth`; a request that changes state with it "
                               "must come from an allowed origin"},
    "agentSignature": {"type": "apiKey", "in": "header", "name": "X-Jsbus-Signature",
                       "description": "An enrolled agent's HMAC signature (docs/protocol.md)"},
}


def secure(template: str, method: str, operation: dict[str, Any]) -> None:
    """Say what ``operation`` needs: no credentials, a signed agent, a user, a permission."""
    rule = rule_for(template, method.upper())
    responses = operation["responses"]
    if rule == PUBLIC:
        operation["security"] = []
        return
    if rule == AGENT:
        operation["security"] = [{"agentSignature": []}]
        responses.setdefault("401", answer("unsigned, badly signed, old or replayed", MESSAGES))
        return
    operation["security"] = [{"token": []}, {"session": []}]
    responses.setdefault("401", answer("no valid token: missing, unknown, expired or revoked",
                                       MESSAGES))
    if rule != SIGNED_IN and rule is not None:
        where = {"app": "in the route's application", "any": "in any application",
                 "global": "in the `*` membership (an administrator)"}[rule.scope]
        operation["x-permission"] = rule.permission
        operation["description"] = (operation.get("description", "") +
                                    f"\n\nNeeds `{rule.permission}` {where}.").strip()
        responses.setdefault("403", answer("the user lacks the permission, or a cookie request "
                                           "came from another site", MESSAGES))
