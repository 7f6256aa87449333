"""The restricted built-in batchlets (``shell``, ``java-main``): none by default, enabled per
application with ``PUT /app/{name}/builtins``; jobs using them are refused (400) at
registration and (409) at submission where they are not enabled."""
from __future__ import annotations

import pytest

from jsbus.components import restricted_builtin

pytestmark = pytest.mark.timeout(60)


def job(ref, name="SH"):
    return {"id": name, "steps": [{"id": "s", "batchlet": {"ref": ref}}]}


@pytest.mark.parametrize("ref, builtin", [
    ("shell", "shell"), ("java-main", "java-main"), ("python-main", None),
    ("jsagent.batchlets:ShellBatchlet", "shell"), ("jsagent.batchlets.ShellBatchlet", "shell"),
    ("jsagent.batchlets.shell.ShellBatchlet", "shell"),
    ("jsagent.batchlets.java_main:JavaMainBatchlet", "java-main"),
    ("jsagent.batchlets:PythonMainBatchlet", None), ("shop.Shell", None)])
def test_restricted_builtin_names_every_spelling(ref, builtin):
    assert restricted_builtin(ref) == builtin


def test_builtins_are_off_by_default_and_only_put_changes_them(client, deployed):
    app = client.simulate_get("/app/shop").json
    assert app["application/builtins"] == []
    assert client.simulate_get("/app/shop/builtins").json["application/builtins"] == []
    redeploy = client.simulate_post("/apps", json={"name": "shop", "classpath": [],
                                                   "application/builtins": ["shell"]})
    assert redeploy.status_code == 400
    assert "PUT /app/{name}/builtins" in redeploy.json["messages"][0]
    put = client.simulate_put("/app/shop/builtins", json={"application/builtins": ["shell"]})
    assert put.status_code == 200, put.json
    assert put.json["application/builtins"] == ["shell"]
    assert put.json["application/revision"] == 1  # not a deploy
    # Kept across a deploy.
    body = {"name": "shop", "classpath": client.simulate_get("/app/shop").json[
        "application/classpaths"]}
    assert client.simulate_post("/apps", json=body).json["application/builtins"] == ["shell"]


@pytest.mark.parametrize("body, message", [
    ({"application/builtins": ["rm-rf"]}, "not one of shell, java-main"),
    ({"application/builtins": "shell"}, "must be a list"),
    ({"application/builtins": [1]}, "must be a list"),
    ({}, "must be a list")])
def test_put_builtins_refuses_what_is_not_a_restricted_builtin(client, deployed, body, message):
    response = client.simulate_put("/app/shop/builtins", json=body)
    assert response.status_code == 400
    assert message in response.json["messages"][0]


def test_put_builtins_of_an_unknown_application_is_404(client):
    response = client.simulate_put("/app/nope/builtins", json={"application/builtins": []})
    assert response.status_code == 404


@pytest.mark.parametrize("ref", ["shell", "java-main", "jsagent.batchlets:ShellBatchlet"])
def test_registration_is_400_where_not_enabled(client, deployed, ref):
    response = client.simulate_post("/shop/jobs", json=job(ref))
    assert response.status_code == 400
    assert "has not enabled" in response.json["messages"][0]
    assert "step s: batchlet ref" in response.json["messages"][0]
    put = client.simulate_put("/shop/job/JOB-1", json=job(ref, "JOB-1"))
    assert put.status_code == 400
    imported = client.simulate_post("/shop/jobs", json=[{"job/document": job(ref)}])
    assert imported.status_code == 400
    assert "[0] step s: batchlet ref" in imported.json["messages"][0]


def test_python_main_needs_no_setting(client, deployed):
    assert client.simulate_post("/shop/jobs", json=job("python-main")).status_code == 201


def test_enabled_registers_and_submits_then_disabled_submission_is_409(client, deployed):
    client.simulate_put("/app/shop/builtins", json={"application/builtins": ["shell"]})
    assert client.simulate_post("/shop/jobs", json=job("shell")).status_code == 201
    assert client.simulate_post("/shop/jobs", json=job("java-main", "JV")).status_code == 400
    assert client.simulate_post("/shop/job/SH/executions", json={}).status_code == 201
    client.simulate_put("/app/shop/builtins", json=[])
    conflict = client.simulate_post("/shop/job/SH/executions", json={})
    assert conflict.status_code == 409
    assert "application/builtins" in conflict.json["messages"][0]
    assert client.simulate_post("/shop/job/JOB-1/executions", json={}).status_code == 201
