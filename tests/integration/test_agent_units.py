"""Agent parts tested in-process: identity, start-command validation, advertised host, HTTP."""
from __future__ import annotations

import pytest
from falcon import testing

from jsagent.commands import parse_start_command
from jsagent.identity import instance_id
from jsagent.server import create_app
from jsagent.spec import advertise_host
from jsbus.errors import ConfigurationError, ValidationError


def test_the_instance_id_is_created_once(tmp_path):
    work_dir = tmp_path / "deep" / "work"
    first = instance_id(work_dir)
    assert instance_id(work_dir) == first
    assert (work_dir / "instance-id").read_text().strip() == first


def test_a_damaged_instance_id_file_is_a_configuration_error(tmp_path):
    (tmp_path / "instance-id").write_text("not a uuid")
    with pytest.raises(ConfigurationError):
        instance_id(tmp_path)


@pytest.mark.parametrize("configured, bind, bus, expected", [
    ("agent.example", "0.0.0.0", "http://127.0.0.1:1", "agent.example"),
    ("", "127.0.0.1", "", "127.0.0.1"),
    ("", "0.0.0.0", "http://127.0.0.1:45102", "127.0.0.1"),  # route to a loopback bus
    ("", "0.0.0.0", "", "127.0.0.1"),
])
def test_the_advertised_host(configured, bind, bus, expected):
    assert advertise_host(configured, bind, bus) == expected


def test_a_valid_start_command_is_parsed():
    command = parse_start_command({
        "execution-id": 7, "app": "demo", "job": "JOB-1", "parameters": {"n": 3},
        "document": {"id": "JOB-1", "steps": [{"id": "S", "batchlet": {"ref": "a.B"}}]},
        "classpath": ["file:///srv/demo"]})
    assert (command.execution_id, command.parameters, command.classpath) == (
        7, {"n": "3"}, ("file:///srv/demo",))


def test_every_bad_field_is_named():
    with pytest.raises(ValidationError) as caught:
        parse_start_command({"execution-id": True, "document": {"steps": [{"id": ""}]}})
    assert caught.value.messages == [
        "execution-id must be a non-negative integer",
        "app is required and must be a non-empty string",
        "job is required and must be a non-empty string",
        "document: id must be present",
        "document.steps[0]: id must be present"]


class StubControl:
    """Records what the HTTP layer asks of the agent."""

    def __init__(self):
        self.started, self.joined = [], []

    def document(self):
        return {"agent/instance-id": "x"}

    def join(self, bus_url):
        self.joined.append(bus_url)
        return self.document()

    def start_execution(self, command):
        self.started.append(command.execution_id)
        return 202, {"execution-id": command.execution_id, "accepted": True}

    def stop_execution(self, execution_id):
        return execution_id == 1


def test_the_http_layer():
    control = StubControl()
    client = testing.TestClient(create_app(control))
    assert client.simulate_get("/healthcheck").json == {"status": "ok"}
    assert client.simulate_post("/join", json={"bus-url": "http://bus:1"}).status_code == 200
    assert control.joined == ["http://bus:1"]
    assert client.simulate_post("/join", json={}).json == {
        "messages": ["bus-url is required and must be an http(s) URL"]}
    assert client.simulate_put("/executions/1/stop").status_code == 202
    assert client.simulate_put("/executions/2/stop").status_code == 404
    assert client.simulate_put("/executions/abc/stop").status_code == 404
    assert "messages" in client.simulate_get("/nowhere").json
