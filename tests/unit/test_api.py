"""The REST API through falcon's TestClient over a real Bus on a real SQLite file."""
import json

import pytest

from tests.databases import sqlite_only
from tests.trusted_agent import heartbeat as trusted_heartbeat, trusted

pytestmark = pytest.mark.timeout(60)

JOB = {"id": "JOB-9", "steps": [{"id": "S1", "batchlet": {"ref": "unit_batch.Noop"}}]}


def messages(response):
    assert set(response.json) == {"messages"}, response.json
    return " | ".join(response.json["messages"])


def test_version_and_healthcheck(client):
    assert client.simulate_get("/version").json["version"]
    health = client.simulate_get("/healthcheck")
    assert health.status_code == 200
    assert health.json["role"] == "leader"


def test_deploy_application_in_both_vocabularies(client, app_dir):
    first = client.simulate_post("/apps", json={"application/name": "a1",
                                                "application/description": "d",
                                                "application/classpaths": [app_dir.as_uri()]})
    assert first.status_code == 201
    again = client.simulate_post("/apps", json={"name": "a1", "classpath": []})
    assert again.status_code == 200
    listed = client.simulate_get("/apps").json
    assert [(a["application/name"], a["application/classpaths"]) for a in listed] == [("a1", [])]


@pytest.mark.parametrize("body, expected", [
    ({"classpath": []}, "name must be present"),
    ({"name": "bad name", "classpath": []}, "name must match"),
    ({"name": "agents", "classpath": []}, "reserved"),
    ({"name": "x"}, "classpath must be present"),
    ({"name": "x", "classpath": "file:///tmp"}, "classpath must be a list"),
    ({"name": "x", "classpath": ["http://example.invalid/a.jar"]}, "classpath[0] must be a file:// URL"),
    ({"name": "x", "classpath": ["file:///no/such/dir"]}, "classpath[0]: /no/such/dir is not an existing directory"),
])
def test_bad_application_bodies_get_400_naming_the_field(client, body, expected):
    response = client.simulate_post("/apps", json=body)
    assert response.status_code == 400
    assert expected in messages(response)
    assert client.simulate_get("/apps").json == []


def test_transport_level_errors(client, deployed):
    app, _ = deployed
    assert client.simulate_post("/apps", body="{", headers={"content-type": "application/json"}).status_code == 400
    assert client.simulate_post("/apps", body="x", headers={"content-type": "text/plain"}).status_code == 415
    big = json.dumps({"name": "x", "description": "y" * (1024 * 1024 + 10), "classpath": []})
    too_big = client.simulate_post("/apps", body=big, headers={"content-type": "application/json"})
    assert too_big.status_code == 413
    assert "limit" in messages(too_big)
    assert client.simulate_post("/apps", json=[1]).status_code == 400
    assert client.simulate_post(f"/{app}/jobs", body="<job/>",
                                headers={"content-type": "application/x-yaml"}).status_code == 415


def test_job_lifecycle(client, deployed):
    app, _ = deployed
    created = client.simulate_post(f"/{app}/jobs", json=JOB)
    assert created.status_code == 201
    assert created.headers["location"] == f"/{app}/job/JOB-9"
    job = client.simulate_get(f"/{app}/job/JOB-9").json
    assert job["job/name"] == "JOB-9" and job["job/restartable?"] is True
    assert job["job/stats"] == {"total": 0, "success": 0, "failure": 0, "average": 0}
    listed = client.simulate_get(f"/{app}/jobs", params={"limit": 1, "offset": 1}).json
    assert listed["hits"] == 2 and listed["limit"] == 1 and len(listed["results"]) == 1
    updated = dict(JOB, steps=JOB["steps"] * 1 + [{"id": "S2", "batchlet": {"ref": "m.X"}}])
    assert client.simulate_put(f"/{app}/job/JOB-9", json=updated).json["job/steps"] == ["S1", "S2"]
    assert client.simulate_put(f"/{app}/job/JOB-9", json=dict(JOB, id="OTHER")).status_code == 400
    assert client.simulate_delete(f"/{app}/job/JOB-9").status_code == 204
    assert client.simulate_get(f"/{app}/job/JOB-9").status_code == 404


def test_invalid_job_changes_nothing(client, deployed):
    app, _ = deployed
    response = client.simulate_post(f"/{app}/jobs", json={"id": "J 1", "steps": [{"id": "A"}]})
    assert response.status_code == 400
    text = messages(response)
    assert "id must match" in text and "step A: has neither batchlet nor chunk" in text
    assert client.simulate_get(f"/{app}/jobs").json["hits"] == 1


@pytest.mark.parametrize("path", ["/nope/jobs", "/nope/job/JOB-1", "/shop/job/NOPE",
                                  "/shop/job/NOPE/executions", "/shop/job/JOB-1/execution/999",
                                  "/agent/no-such-agent", "/nope/stats"])
def test_unknown_things_are_404_with_messages(client, deployed, path):
    response = client.simulate_get(path)
    assert response.status_code == 404
    assert messages(response)


def test_submit_execution_returns_its_id_and_location(client, deployed):
    app, job = deployed
    response = client.simulate_post(f"/{app}/job/{job}/executions", json={"n": 3, "flag": True})
    assert response.status_code == 201
    execution_id = response.json["job-execution/execution-id"]
    assert response.headers["location"] == f"/{app}/job/{job}/execution/{execution_id}"
    assert response.json["job-execution/batch-status"] == "batch-status/undispatched"
    shown = client.simulate_get(response.headers["location"]).json
    assert shown["job-execution/job-parameters"] == {"n": "3", "flag": "true"}
    assert shown["job-execution/step-executions"] == []
    listed = client.simulate_get(f"/{app}/job/{job}/executions").json
    assert [e["job-execution/execution-id"] for e in listed["results"]] == [execution_id]
    # an execution is only found under its own job's path
    assert client.simulate_get(f"/{app}/job/OTHER/execution/{execution_id}").status_code == 404


def test_submit_without_body_and_with_bad_parameters(client, deployed):
    app, job = deployed
    assert client.simulate_post(f"/{app}/job/{job}/executions").status_code == 201
    bad = client.simulate_post(f"/{app}/job/{job}/executions", json={"x": {"nested": 1}})
    assert bad.status_code == 400 and "parameters.x" in messages(bad)
    assert client.simulate_post(f"/{app}/job/NOPE/executions", json={}).status_code == 404
    assert client.simulate_get(f"/{app}/job/{job}/executions").json["hits"] == 1


def agent_document(instance_id="a-1", port=4510):
    return {"agent/instance-id": instance_id, "agent/name": "agent-1", "agent/host": "127.0.0.1",
            "agent/port": port, "agent/agent-version": "0.1.0", "agent/os-name": "Linux",
            "agent/cpu-core": 2, "agent/capacity": 2, "agent/jobs": {"running": 0},
            "agent/stats": {"memory": {"physical": {"free": 1, "total": 2}}}}


def test_heartbeat_registers_an_agent(client, deployed):
    app, _ = deployed
    assert client.simulate_post("/agent/a-1/heartbeat", json=agent_document()).status_code == 200
    # Unsigned, with no key: pending (docs/protocol.md, "Enrollment"), and it gets no work.
    assert client.simulate_get("/agent/a-1").json["agent/status"] == "pending"
    assert client.simulate_get(f"/{app}/stats").json == {"agents": 0, "jobs": 1}
    trusted_heartbeat(client, "a-1", agent_document())
    agents = client.simulate_get("/agents").json
    assert [(a["agent/instance-id"], a["agent/status"], a["agent/port"]) for a in agents] == \
        [("a-1", "ready", 4510)]
    assert client.simulate_get(f"/{app}/stats").json == {"agents": 1, "jobs": 1}
    detail = client.simulate_get("/agent/a-1").json
    assert detail["agent/executions"] == [] and detail["agent/capacity"] == 2


@pytest.mark.parametrize("body, expected", [
    (dict(agent_document(), **{"agent/instance-id": "other"}), "must match the instance id"),
    (dict(agent_document(), **{"agent/port": "x"}), "agent/port must be a number"),
    (dict(agent_document(), **{"agent/port": 0}), "agent/port must be a TCP port"),
    ({k: v for k, v in agent_document().items() if k != "agent/host"}, "agent/host must be a string"),
])
def test_bad_heartbeats(client, body, expected):
    response = client.simulate_post("/agent/a-1/heartbeat", json=body)
    assert response.status_code == 400 and expected in messages(response)
    assert client.simulate_get("/agents").json == []


def test_events_from_unknown_agent_or_malformed_are_refused(client):
    event = {"type": "execution", "execution-id": 1, "status": "started",
             "time": "2026-01-01T00:00:00Z"}
    ghost = client.simulate_post("/agent/ghost/events", json={"events": [event]})
    assert ghost.status_code == 401, "unsigned: refused before anything is looked up"
    agent = trusted(client, "a-1")
    agent.enroll(agent_document())
    unsigned = client.simulate_post("/agent/a-1/events", json={"events": [event]})
    assert unsigned.status_code == 401 and "must be signed" in messages(unsigned)
    for bad, expected in [({"events": {}}, "events must be a list"),
                          ({"events": [dict(event, status="flying")]}, "events[0].status"),
                          ({"events": [dict(event, time="yesterday")]}, "events[0].time"),
                          ({"events": [dict(event, type="gossip")]}, "events[0].type")]:
        response = agent.post("/agent/a-1/events", bad)
        assert response.status_code == 400 and expected in messages(response)


def test_unknown_routes_and_methods_say_what_was_wrong(client, deployed):
    app, _ = deployed
    wrong_method = client.simulate_delete("/apps")
    assert wrong_method.status_code == 405
    assert messages(wrong_method) == "DELETE is not allowed on /apps (allowed: GET, POST, OPTIONS)"
    assert messages(client.simulate_get("/a/b/c/d/e")) == "no such resource: /a/b/c/d/e"
    bad_page = client.simulate_get(f"/{app}/jobs", query_string="limit=abc")
    assert bad_page.status_code == 400 and '"limit"' in messages(bad_page)
    assert client.simulate_get(f"/{app}/jobs", query_string="offset=-1").status_code == 400


def test_job_documents_in_xml_and_edn_and_warnings(client, deployed):
    app, _ = deployed
    xml = b"""<?xml version="1.0"?>
<job id="XML-JOB" xmlns="https://jakarta.ee/xml/ns/jakartaee" version="2.0">
  <step id="s1" next="s2"><batchlet ref="unit_batch.Noop"/></step>
  <step id="s2"><batchlet ref="missing.module.Thing"/></step>
  <step id="orphan"><batchlet ref="unit_batch.Noop"/></step>
</job>"""
    created = client.simulate_post(f"/{app}/jobs", body=xml,
                                   headers={"content-type": "application/xml"})
    assert created.status_code == 201, created.json
    warnings = " | ".join(created.json["job/warnings"])
    assert "missing.module.Thing" in warnings and "orphan" in warnings
    assert created.json["job/steps"] == ["s1", "s2", "orphan"]
    edn = b'{:id "EDN-JOB" :steps [{:id "only" :batchlet {:ref "unit_batch.Noop"}}]}'
    assert client.simulate_post(f"/{app}/jobs", body=edn,
                                headers={"content-type": "application/edn"}).status_code == 201
    bad_xml = client.simulate_post(f"/{app}/jobs", body=b"<job id='X'><nope/></job>",
                                   headers={"content-type": "application/xml"})
    assert bad_xml.status_code == 400 and "nope" in messages(bad_xml)


def test_the_job_schema_is_published(client):
    response = client.simulate_get("/schemas/job.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/schema+json"
    assert "$defs" in response.json and response.json["$schema"].startswith("https://")


def test_a_job_exports_as_json_edn_and_xml_and_imports_back(client, deployed):
    app, job = deployed
    path = f"/{app}/job/{job}/document"
    as_json = client.simulate_get(path)
    assert as_json.headers["content-type"] == "application/json"
    assert [s["id"] for s in as_json.json["steps"]] == ["STEP-1", "STEP-2"]
    for media_type in ("application/xml", "application/edn"):
        exported = client.simulate_get(path, headers={"accept": media_type})
        assert exported.status_code == 200 and exported.headers["content-type"] == media_type
        again = client.simulate_put(f"/{app}/job/{job}", body=exported.content,
                                    headers={"content-type": media_type})
        assert again.status_code == 200, again.json
        assert client.simulate_get(path).json == as_json.json
    refused = client.simulate_get(path, headers={"accept": "image/png"})
    assert refused.status_code == 406 and "application/xml" in messages(refused)


@sqlite_only
def test_healthcheck_is_503_when_the_database_is_gone(bus, client, bus_config):
    """A real failure: the SQLite file is overwritten with what is not a database (a fresh
    connection, as a new API thread would open, cannot read it)."""
    from pathlib import Path
    path = Path(bus_config.get("bus.database").removeprefix("sqlite:///"))
    bus.storage.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(b"not a database " * 512)
    response = client.simulate_get("/healthcheck")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable" and response.json["messages"]


def test_stats_count_ready_agents_and_jobs(client, deployed):
    assert client.simulate_get("/shop/stats").json == {"agents": 0, "jobs": 1}
    missing = client.simulate_get("/nope/stats")
    assert missing.status_code == 404 and "nope" in messages(missing)
