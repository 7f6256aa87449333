"""Agent parts tested in-process: identity, start-command validation, advertised host, HTTP (one
and many start commands), the alarm and the holds of scheduled executions."""
from __future__ import annotations

import base64
import json
import threading
import time

import pytest
from falcon import testing

from jsagent.alarm import Alarm
from jsagent.holds import Holds, not_before_seconds

from jsagent.commands import parse_start_command
from jsagent.identity import instance_id
from jsagent.server import create_app
from jsagent.trust import AgentKeys
from nacl.public import PublicKey, SealedBox
from jsbus import signing
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
        self.started, self.joined, self.batches = [], [], []

    def document(self):
        return {"agent/instance-id": "x"}

    def join(self, bus_url):
        self.joined.append(bus_url)
        return self.document()

    def start_execution(self, command):
        self.started.append(command.execution_id)
        return 202, {"execution-id": command.execution_id, "accepted": True}

    def start_executions(self, commands):
        self.batches.append([command.execution_id for command in commands])
        return [(503, {"messages": ["full"]}) if command.execution_id == 9 else
                (202, {"execution-id": command.execution_id, "accepted": True})
                for command in commands]

    def stop_execution(self, execution_id):
        return execution_id == 1


class SignedClient(testing.TestClient):
    """Signs every request as the bus the agent's keys enrolled with (``jsbus.signing``)."""

    def __init__(self, app, keys, secret: bytes):
        super().__init__(app)
        self.keys, self.secret = keys, secret

    def simulate_request(self, method="GET", path="/", **kwargs):
        if "json" in kwargs:
            kwargs["body"] = json.dumps(kwargs.pop("json")).encode()
            kwargs.setdefault("headers", {})["Content-Type"] = "application/json"
        body = kwargs.get("body") or b""
        headers = dict(kwargs.pop("headers", None) or {})
        headers.update(signing.sign(self.secret, signing.BUS_TO_AGENT, method, path, body,
                                    self.keys.instance_id, "bus-1"))
        return super().simulate_request(method, path, headers=headers, **kwargs)


def signed_client(control, work_dir):
    keys = AgentKeys(work_dir, "agent-1")
    secret = signing.new_secret()
    sealed = SealedBox(PublicKey(base64.b64decode(keys.public_key))).encrypt(secret)
    assert keys.accept({"enrollment": {"bus-id": "bus-1",
                                       "sealed-secret": base64.b64encode(sealed).decode()}})
    return SignedClient(create_app(control, keys), keys, secret)


def test_the_http_layer(tmp_path):
    control = StubControl()
    client = signed_client(control, tmp_path)
    assert client.simulate_get("/healthcheck").json == {"status": "ok"}
    assert client.simulate_post("/join", json={"bus-url": "http://bus:1"}).status_code == 200
    assert control.joined == ["http://bus:1"]
    assert client.simulate_post("/join", json={}).json == {
        "messages": ["bus-url is required and must be an http(s) URL"]}
    assert client.simulate_put("/executions/1/stop").status_code == 202
    assert client.simulate_put("/executions/2/stop").status_code == 404
    assert client.simulate_put("/executions/abc/stop").status_code == 404
    assert "messages" in client.simulate_get("/nowhere").json


def start_body(execution_id):
    return {"execution-id": execution_id, "app": "demo", "job": "J",
            "document": {"id": "J", "steps": [{"id": "S", "batchlet": {"ref": "a.B"}}]}}


def test_a_batch_is_validated_per_command_and_started_with_one_call(tmp_path):
    control = StubControl()
    client = signed_client(control, tmp_path)
    answer = client.simulate_post("/executions/batch", json={"executions": [
        start_body(7), {**start_body(8), "job": 3}, start_body(9), "nonsense"]})
    assert answer.status_code == 200
    assert answer.json == {"results": [
        {"execution-id": 7, "status": 202},
        {"execution-id": 8, "status": 400,
         "messages": ["job is required and must be a non-empty string"]},
        {"execution-id": 9, "status": 503, "messages": ["full"]},
        {"execution-id": None, "status": 400, "messages": ["the body must be a JSON object"]}]}
    assert control.batches == [[7, 9]] and control.started == []
    assert client.simulate_post("/executions/batch", json={"executions": []}).json == {
        "results": []}
    assert control.batches == [[7, 9]]  # nothing valid: the runtime is not asked
    for bad in ({"executions": None}, [start_body(1)], {}):
        refused = client.simulate_post("/executions/batch", json=bad)
        assert refused.status_code == 400 and refused.json["messages"]


def test_the_alarm_calls_in_time_order_and_skips_cancelled_entries():
    alarm = Alarm().start()
    try:
        calls, done = [], threading.Event()
        now = time.time()
        alarm.at(now + 0.06, lambda: (calls.append("late"), done.set()))
        alarm.at(now + 0.02, lambda: calls.append("early"))
        alarm.at(now + 0.01, lambda: calls.append("cancelled")).cancel()
        alarm.at(now - 5, lambda: calls.append("overdue"))
        assert done.wait(5)
        assert calls == ["overdue", "early", "late"]
    finally:
        alarm.close()


def test_holds_wake_once_for_the_earliest_and_hand_over_what_is_due():
    clock = [100.0]
    alarm = Alarm(clock=lambda: clock[0])
    woken = []
    holds = Holds(alarm, lambda: woken.append(clock[0]), lambda: clock[0])
    for when, execution_id in ((105.0, 2), (103.0, 1), (109.0, 3), (105.0005, 4)):
        holds.add(when, execution_id)
    assert [entry.when for _, _, entry in alarm._heap if not entry.cancelled] == [103.0]
    clock[0] = 104.0
    assert holds.due() == [1]
    clock[0] = 105.0
    assert holds.due() == [2, 4] and len(holds) == 1  # within EARLY of each other
    assert holds.due() == []
    assert [entry.when for _, _, entry in alarm._heap if not entry.cancelled] == [109.0]
    assert not_before_seconds("2026-11-28T22:25:00.5Z") == 1795904700.5
    assert not_before_seconds(None) is None
