"""Every route of the API against the permission table, for every kind of user: anonymous gets
401, each role gets 403 exactly where its permissions say so, and the table fails when the app
routes something it does not cover. Through falcon's TestClient over a real Bus on SQLite."""
from __future__ import annotations

import re

import falcon.testing
import pytest

from jsbus.api.app import create_app
from jsbus.auth.model import User
from jsbus.auth.permissions import AGENT, PUBLIC, ROLES, ROUTES, SIGNED_IN, allowed
from tests.unit.test_openapi import routed

pytestmark = pytest.mark.timeout(120)

# Path parameters for the concrete requests: names that exist where a 404 would hide nothing,
# and that no destructive request can hurt (the users and agents named do not exist).
VALUES = {"app": "shop", "name": "shop", "job": "JOB-1", "execution_id": "1",
          "instance_id": "no-such-agent", "user_id": "nobody", "test_id": "1",
          "sha256": "0" * 64, "setting": "exclusive", "command": "pause", "kind": "memory",
          "token_id": "1"}
USERS = {  # who: memberships
    "admin": {"*": ("admin",)},
    "operator": {"*": ("operator",)},
    "watcher": {"*": ("watcher",)},
    "shop-operator": {"shop": ("operator",)},  # an operator of another application's jobs
    "other-admin": {"other": ("admin",)},  # an admin of another application only
    "nobody-at-all": {},
}


def concrete(template: str) -> str:
    return re.sub(r"\{(\w+)(?::[^}]*)?\}", lambda m: VALUES[m.group(1)], template)


@pytest.fixture
def tokens(bus, deployed):
    for name, memberships in USERS.items():
        if name != "admin":
            bus.storage.create_user(User(id=name, password_hash="x", memberships=memberships),
                                    bus.auth.clock())
    return {name: bus.auth.issue(bus.storage.get_user(name)) for name in USERS}


def test_the_table_covers_exactly_the_routes_of_the_app(bus):
    app = create_app(bus)
    routes = {(template, method.upper()) for template, method in routed(app)}
    table = {(template, method) for template, methods in ROUTES.items() for method in methods}
    assert sorted(routes - table) == [], "routes without a permission rule"
    assert sorted(table - routes) == [], "rules for routes the app does not have"


def test_only_login_version_and_healthcheck_are_open():
    public = sorted((t, m) for t, methods in ROUTES.items() for m, r in methods.items()
                    if r == PUBLIC)
    assert public == [("/auth", "POST"), ("/healthcheck", "GET"), ("/version", "GET")]


def test_anonymous_gets_401_everywhere_else(bus, deployed):
    """Everywhere but the heartbeat, where an agent that is not enrolled yet knocks: it is
    kept pending and gets no work (tests/e2e/test_agent_trust.py)."""
    anonymous = falcon.testing.TestClient(create_app(bus))
    for template, methods in ROUTES.items():
        for method, rule in methods.items():
            if rule == PUBLIC or template == "/agent/{instance_id}/heartbeat":
                continue
            response = anonymous.simulate_request(method, concrete(template), json={})
            assert response.status_code == 401, (method, template, response.json)
            assert response.json["messages"], (method, template)


def test_each_role_is_refused_exactly_where_its_permissions_say(bus, tokens):
    """For each user and each route: 403 when the table denies it, never 401 or 403 when it
    allows it (the resource then answers: 2xx, 400, 404, 409...)."""
    app = create_app(bus)
    checked = 0
    for name, memberships in USERS.items():
        client = falcon.testing.TestClient(app, headers={
            "Authorization": f"Bearer {tokens[name]}"})
        for template, methods in ROUTES.items():
            for method, rule in methods.items():
                if rule in (PUBLIC, AGENT) or method == "DELETE" and template == "/auth" \
                        or (name == "admin" and method == "DELETE"):
                    continue
                app_name = VALUES["app"] if "{app}" in template or "{name}" in template \
                    else None
                expected = rule == SIGNED_IN or allowed(memberships, rule, app_name)
                status = client.simulate_request(method, concrete(template),
                                                 json={}).status_code
                assert status != 401, (name, method, template)
                assert (status != 403) == expected, (name, method, template, status)
                checked += 1
    assert checked > 300


@pytest.mark.parametrize("who, method, path, allowed_", [
    # the original's test cases (component/*_test.clj): a missing permission is a 403
    ("watcher", "GET", "/shop/jobs", True),
    ("watcher", "POST", "/shop/jobs", False),  # create-job
    ("operator", "POST", "/shop/jobs", False),
    ("operator", "POST", "/shop/job/JOB-1/executions", True),  # execute-job
    ("watcher", "POST", "/shop/job/JOB-1/executions", False),
    ("watcher", "PUT", "/shop/job/JOB-1/settings/exclusive", False),  # update-job
    ("operator", "DELETE", "/shop/job/JOB-1/settings/exclusive", False),  # delete-job
    ("watcher", "POST", "/shop/job/JOB-1/schedule", False),  # execute-job
    ("watcher", "GET", "/calendars", True), ("watcher", "POST", "/calendars", False),
    ("operator", "POST", "/calendars", True), ("operator", "DELETE", "/calendar/x", True),
    # what only an administrator does
    ("operator", "GET", "/users", False), ("operator", "POST", "/apps", False),
    ("operator", "PUT", "/agent/no-such-agent/block", False),
    ("shop-operator", "POST", "/shop/job/JOB-1/executions", True),
    ("other-admin", "GET", "/shop/jobs", False), ("other-admin", "GET", "/users", False),
])
def test_the_originals_permission_cases(bus, tokens, who, method, path, allowed_):
    client = falcon.testing.TestClient(create_app(bus),
                                       headers={"Authorization": f"Token {tokens[who]}"})
    response = client.simulate_request(method, path, json={})
    assert (response.status_code != 403) == allowed_, response.json
    if not allowed_:
        assert response.json["messages"][0].startswith("Permission denied")


def test_roles_are_the_originals_plus_administration():
    assert ROLES["watcher"] == {"read-job", "read-calendar"}
    assert ROLES["operator"] == {"read-job", "execute-job", "read-calendar", "create-calendar",
                                 "update-calendar", "delete-calendar"}
    assert {"manage-apps", "manage-agents", "manage-users"} <= ROLES["admin"]
