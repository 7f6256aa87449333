"""Logins, tokens and users through the REST API, with the original's messages: falcon's
TestClient over a real Bus on a real SQLite file."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import falcon.testing
import pytest

from jsbus.api.app import create_app
from jsbus.bus import Bus
from tests.conftest import ADMIN_PASSWORD
from tests.databases import ON_POSTGRESQL

pytestmark = pytest.mark.timeout(60)
ADMIN = {"user/id": "admin", "user/password": ADMIN_PASSWORD}


def messages(response) -> list[str]:
    assert set(response.json) == {"messages"}, response.json
    return response.json["messages"]


def login(anonymous, user_id="admin", password=ADMIN_PASSWORD):
    return anonymous.simulate_post("/auth", json={"user/id": user_id, "user/password": password})


def as_token(token: str, scheme: str = "Token") -> dict:
    return {"Authorization": f"{scheme} {token}"}


def test_login_gives_a_token_and_an_http_only_session_cookie(anonymous):
    response = login(anonymous)
    assert response.status_code == 201
    token = response.json["token"]
    assert len(token) >= 40
    cookie = response.cookies["jsbus-session"]
    assert cookie.value == token and cookie.http_only and cookie.same_site == "Lax"
    for scheme in ("Token", "Bearer"):
        account = anonymous.simulate_get("/account", headers=as_token(token, scheme))
        assert account.status_code == 200
        assert account.json["user/id"] == "admin"
        assert "manage-users" in account.json["applications"]["*"]["permissions"]


@pytest.mark.parametrize("body, expected", [
    ({"user/password": "x"}, ["id must be present"]),
    ({"user/id": "admin"}, ["password must be present"]),
    ({}, ["id must be present", "password must be present"]),
    ({"user/id": "a b", "user/password": "x"}, ["id must match ^[\\w\\-]+$"]),
])
def test_login_validation_is_400_with_the_originals_messages(anonymous, body, expected):
    response = anonymous.simulate_post("/auth", json=body)
    assert response.status_code == 400
    assert messages(response) == expected
    assert "jsbus-session" not in response.cookies


@pytest.mark.parametrize("user_id, password", [("admin", "wrong-password"),
                                               ("ghost", ADMIN_PASSWORD)])
def test_a_wrong_password_or_user_is_401_authentication_failure(anonymous, user_id, password):
    response = login(anonymous, user_id, password)
    assert response.status_code == 401
    assert messages(response) == ["Authentication failure."]


def test_expired_revoked_and_deleted_users_tokens_are_401(bus, anonymous, client):
    token = login(anonymous).json["token"]
    assert anonymous.simulate_get("/apps", headers=as_token(token)).status_code == 200
    # expired: no use for longer than bus.token_idle
    start = bus.auth.clock()
    bus.auth.clock = lambda: start + timedelta(seconds=1801)
    expired = anonymous.simulate_get("/apps", headers=as_token(token))
    assert expired.status_code == 401
    assert "expired" in messages(expired)[0]
    bus.auth.clock = lambda: start
    # revoked: DELETE /auth
    fresh = login(anonymous).json["token"]
    assert anonymous.simulate_delete("/auth", headers=as_token(fresh)).status_code == 204
    assert anonymous.simulate_get("/apps", headers=as_token(fresh)).status_code == 401
    # a deleted user's
    assert client.simulate_post("/user", json={"user/id": "temp", "user/password": "12345678",
                                               "role": "watcher"}).status_code == 201
    theirs = login(anonymous, "temp", "12345678").json["token"]
    assert anonymous.simulate_get("/apps", headers=as_token(theirs)).status_code == 200
    assert client.simulate_delete("/user/temp").status_code == 204
    assert anonymous.simulate_get("/apps", headers=as_token(theirs)).status_code == 401
    assert anonymous.simulate_get("/apps", headers=as_token("made-up")).status_code == 401


def test_a_token_slides_on_use_but_not_past_its_maximum(bus, anonymous):
    token = login(anonymous).json["token"]
    start = bus.auth.clock()
    for minutes in range(25, 12 * 60, 25):  # used every 25 minutes: alive ...
        bus.auth.clock = lambda m=minutes: start + timedelta(minutes=m)
        assert anonymous.simulate_get("/apps", headers=as_token(token)).status_code == 200
    bus.auth.clock = lambda: start + timedelta(hours=12, minutes=1)  # ... until 12 h at most
    assert anonymous.simulate_get("/apps", headers=as_token(token)).status_code == 401


def test_the_cookie_works_for_reads_and_for_writes_only_from_allowed_origins(anonymous):
    token = login(anonymous).json["token"]
    cookie = {"Cookie": f"jsbus-session={token}"}
    assert anonymous.simulate_get("/apps", headers=cookie).status_code == 200
    body = {"name": "site", "classpath": []}
    forged = anonymous.simulate_post("/apps", json=body, headers={
        **cookie, "Origin": "https://evil.example"})
    assert forged.status_code == 403
    assert "cross-site request refused" in messages(forged)[0]
    assert anonymous.simulate_post("/apps", json=body, headers=cookie).status_code == 403
    same_site = anonymous.simulate_post("/apps", json=body, headers={
        **cookie, "Origin": "http://falconframework.org"})
    assert same_site.status_code == 201, same_site.json
    logout = anonymous.simulate_delete("/auth", headers={
        **cookie, "Origin": "http://falconframework.org"})
    assert logout.status_code == 204 and logout.cookies["jsbus-session"].value == ""
    assert anonymous.simulate_get("/apps", headers=cookie).status_code == 401


@pytest.mark.parametrize("body, expected", [
    ({"user/password": "12345678", "role": "watcher"}, ["id must be present"]),
    ({"user/id": "ab", "user/password": "12345678", "role": "watcher"},
     ["Username must be at least 3 characters long."]),
    ({"user/id": "a" * 21, "user/password": "12345678", "role": "watcher"},
     ["Username is too long."]),
    ({"user/id": "carol", "role": "watcher"}, ["password must be present"]),
    ({"user/id": "carol", "user/password": "1234567", "role": "watcher"},
     ["Password must be at least 8 characters long."]),
    ({"user/id": "carol", "user/password": "12345678"}, ["role must be present"]),
    ({"user/id": "carol", "user/password": "12345678", "role": "boss"},
     ["role is used by someone.", "role must be one of admin, operator, watcher, not boss"]),
    ({"user/id": "admin", "user/password": "12345678", "role": "watcher"},
     ["id is used by someone."]),
])
def test_user_creation_validation_as_the_originals_tests(client, body, expected):
    response = client.simulate_post("/user", json=body)
    assert response.status_code == 400
    assert messages(response) == expected
    assert [u["user/id"] for u in client.simulate_get("/users").json] == ["admin"]


def test_users_are_created_listed_changed_and_deleted(client, anonymous):
    created = client.simulate_post("/user", json={
        "user/id": "carol", "user/password": "carols-password",
        "user/memberships": {"shop": ["operator"], "*": ["watcher"]}})
    assert created.status_code == 201 and created.headers["location"] == "/user/carol"
    assert created.json["user/memberships"] == {"shop": ["operator"], "*": ["watcher"]}
    assert [u["user/id"] for u in client.simulate_get("/users").json] == ["admin", "carol"]
    assert "user/password" not in str(client.simulate_get("/users").json)
    changed = client.simulate_put("/user/carol", json={"user/password": "a-new-password"})
    assert changed.json["user/memberships"]["shop"] == ["operator"], "memberships kept"
    assert login(anonymous, "carol", "carols-password").status_code == 401
    assert login(anonymous, "carol", "a-new-password").status_code == 201
    assert client.simulate_get("/user/ghost").status_code == 404
    assert client.simulate_delete("/user/carol").status_code == 204
    assert client.simulate_delete("/user/carol").status_code == 404


def test_the_last_administrator_cannot_be_removed(client):
    refused = client.simulate_delete("/user/admin")
    assert refused.status_code == 409
    assert "last user who can manage users" in messages(refused)[0]
    demoted = client.simulate_put("/user/admin", json={"role": "watcher"})
    assert demoted.status_code == 409


def test_the_first_start_creates_admin_with_a_random_password_shown_once(bus_config, capfd):
    config = bus_config.with_overrides({"bus.admin_password": ""})
    first = Bus(config)
    first.start()
    try:
        printed = capfd.readouterr().err
        password = printed.split("with password ")[1].split()[0]
        anonymous = falcon.testing.TestClient(create_app(first))
        assert login(anonymous, "admin", password).status_code == 201
    finally:
        first.stop()
    second = Bus(config)
    second.start()
    second.stop()
    assert "password" not in capfd.readouterr().err, "shown once, by the start that made it"
    if ON_POSTGRESQL:
        return  # the stored form is checked on the SQLite file
    database = Path(config.get("bus.database").removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*")
                      if p.is_file())
    assert password.encode() not in stored and b"scrypt$" in stored


def test_the_application_list_shows_what_the_user_may_read(client, anonymous, app_dir):
    for name in ("shop", "payroll"):
        assert client.simulate_post("/apps", json={"name": name, "classpath": [
            app_dir.as_uri()]}).status_code == 201
    client.simulate_post("/user", json={"user/id": "clerk", "user/password": "12345678",
                                        "role": "operator", "application": "shop"})
    token = login(anonymous, "clerk", "12345678").json["token"]
    listed = anonymous.simulate_get("/apps", headers=as_token(token)).json
    assert [app["application/name"] for app in listed] == ["shop"]
    assert anonymous.simulate_get("/app/payroll", headers=as_token(token)).status_code == 403
    assert len(client.simulate_get("/apps").json) == 2, "the admin sees every application"
