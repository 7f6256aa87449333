"""Agents must be trusted (docs/protocol.md, "Enrollment" and "Signing"): real bus and agent
processes on loopback, real HTTP. An agent without a join token stays pending and gets no work
until approved; join tokens (single use, expiry); revocation; forged, replayed, stale and
wrongly signed commands to a real agent are refused and nothing runs."""
from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from jsbus import signing
from jsbus.launch import start_agent, start_bus, stop_all, wait_until
from jsbus.model import utcnow
from jsbus.wire import parse_time
from tests.e2e import api
from tests.e2e.helpers import deploy, register
from tests.e2e.polling import stays

FAST = {"JSBUS_AGENTS_LEASE": "3",  # heartbeats every second
        "JSBUS_ADMIN_PASSWORD": api.ADMIN_PASSWORD}  # until jsbus.launch sets it itself


def agent_status(url: str, instance_id: str) -> str:
    return api.get(f"{url}/agent/{instance_id}").json()["agent/status"]


def only_agent(url: str) -> dict:
    agents = wait_until(lambda: api.get(f"{url}/agents").json(), 30, what="an agent to heartbeat")
    assert len(agents) == 1, agents
    return agents[0]


def submit(url: str, job: str) -> str:
    created = api.post(f"{url}/e2e/job/{job}/executions", json={})
    assert created.status_code == 201, created.text
    return url + created.headers["location"]


def status_of(location: str) -> str:
    return api.get(location).json()["job-execution/batch-status"].split("/")[-1]


def wait_status(location: str, wanted: str, timeout: float = 60) -> None:
    wait_until(lambda: status_of(location) == wanted, timeout, interval=0.1,
               what=f"{location} to be {wanted}")


@pytest.mark.timeout(180)
def test_pending_until_approved_then_revoked(tmp_path):
    bus, url = start_bus(tmp_path, env=FAST)
    agent = None
    try:
        deploy(url)
        register(url, "TRUST", ["e2e_batch.Count"])
        agent, _ = start_agent(tmp_path, url, join_token=False,
                               env={"JSAGENT_HEARTBEAT_INTERVAL": "0.5"})
        instance_id = only_agent(url)["agent/instance-id"]
        assert agent_status(url, instance_id) == "pending"
        waiting = submit(url, "TRUST")
        # No work for a pending agent: the execution waits, the agent stays pending.
        assert stays(lambda: status_of(waiting) == "undispatched"
                     and agent_status(url, instance_id) == "pending", 3.0)
        detail = api.get(f"{url}/agent/{instance_id}").json()
        assert detail["agent/enrollment"]["state"] == "pending"
        approved = api.put(f"{url}/agent/{instance_id}/approve")
        assert approved.status_code == 200, approved.text
        assert "secret" not in approved.text.lower()
        wait_until(lambda: agent_status(url, instance_id) == "ready", 30, what="enrollment")
        assert api.get(f"{url}/agent/{instance_id}").json()["agent/enrollment"]["state"] == \
            "enrolled"
        wait_status(waiting, "completed")
        # Revoked: no more work, its heartbeats are refused (403), its secret is gone.
        revoked = api.delete(f"{url}/agent/{instance_id}")
        assert revoked.status_code == 200 and revoked.json()["agent/status"] == "revoked"
        wait_until(lambda: "HTTP 403" in agent.output(), 30, what="a refused heartbeat")
        after = submit(url, "TRUST")
        assert stays(lambda: status_of(after) == "undispatched", 3.0)
        assert agent_status(url, instance_id) == "revoked"
        again = api.put(f"{url}/agent/{instance_id}/approve")
        assert again.status_code == 409
    finally:
        stop_all(agent, bus)


@pytest.mark.timeout(180)
def test_join_tokens_single_use_and_expiry(tmp_path):
    bus, url = start_bus(tmp_path, env=FAST, join_token=False)
    agents = []
    try:
        created = api.post(f"{url}/agents/join-tokens", json={"ttl": 600, "single-use?": True})
        assert created.status_code == 201, created.text
        token = created.json()["join-token"]
        assert created.json()["single-use?"] is True and created.json()["expires-at"]
        listed = api.get(f"{url}/agents/join-tokens").json()
        assert len(listed) == 1 and token not in json.dumps(listed)
        first, _ = start_agent(tmp_path, url, name="first", join_token=False,
                               env={"JSAGENT_JOIN_TOKEN": token})
        agents.append(first)
        wait_until(lambda: [a for a in api.get(f"{url}/agents").json()
                            if a["agent/status"] == "ready"], 30, what="the first to enroll")
        second, _ = start_agent(tmp_path, url, name="second", join_token=False,
                                env={"JSAGENT_JOIN_TOKEN": token})
        agents.append(second)
        short = api.post(f"{url}/agents/join-tokens", json={"ttl": 0.5, "single-use?": False})
        assert short.status_code == 201, short.text
        # The token expires: the bus runs on this host's clock; its expiry, as the bus reports
        # it, is cut to the millisecond (hence the 1 ms).
        expiry = parse_time(short.json()["expires-at"], "expires-at") + timedelta(milliseconds=1)
        wait_until(lambda: utcnow() >= expiry, 5, what="the short join token to expire")
        third, _ = start_agent(tmp_path, url, name="third", join_token=False,
                               env={"JSAGENT_JOIN_TOKEN": short.json()["join-token"]})
        agents.append(third)
        wait_until(lambda: len(api.get(f"{url}/agents").json()) == 3, 30, what="3 agents")
        assert stays(lambda: sorted(a["agent/status"] for a in api.get(f"{url}/agents").json())
                     == ["pending", "pending", "ready"], 3.0)
        token_id = created.json()["join-token/id"]
        assert api.delete(f"{url}/agents/join-token/{token_id}").status_code == 204
        assert api.delete(f"{url}/agents/join-token/{token_id}").status_code == 404
        for process in agents:
            assert token not in process.output()
        assert token not in bus.output()
    finally:
        stop_all(*agents, bus)


TOUCH = '''
from pathlib import Path


class Touch:
    def process(self):
        Path(self.path).write_text("ran")
        return "TOUCHED"
'''


def touch_command(app_dir: Path, execution_id: int, target: Path) -> bytes:
    return json.dumps({"execution-id": execution_id, "app": "t", "job": "J",
                       "document": {"id": "J", "steps": [{"id": "S", "batchlet": {
                           "ref": "touch_batch.Touch", "properties": {"path": str(target)}}}]},
                       "parameters": {}, "classpath": [app_dir.as_uri()]}).encode()


@pytest.mark.timeout(120)
def test_forged_replayed_stale_and_wrongly_signed_commands_are_refused(tmp_path):
    app_dir = tmp_path / "touchapp"
    app_dir.mkdir()
    (app_dir / "touch_batch.py").write_text(TOUCH)
    bus, url = start_bus(tmp_path, env=FAST)
    agent = None
    try:
        agent, agent_url = start_agent(tmp_path, url)
        instance_id = only_agent(url)["agent/instance-id"]
        wait_until(lambda: agent_status(url, instance_id) == "ready", 30, what="enrollment")
        enrollment = tmp_path / "agent-1" / "trust" / "enrollment.json"
        assert oct(enrollment.stat().st_mode & 0o777) == "0o600"
        assert oct(enrollment.parent.stat().st_mode & 0o777) == "0o700"
        assert oct((enrollment.parent / "agent.key").stat().st_mode & 0o777) == "0o600"
        enrolled = json.loads(enrollment.read_text())
        secret, bus_id = bytes.fromhex(enrolled["secret"]), enrolled["bus-id"]

        def post(body: bytes, headers: dict) -> httpx.Response:
            return httpx.post(f"{agent_url}/executions", content=body, timeout=10,
                              trust_env=False,
                              headers={"Content-Type": "application/json", **headers})

        def signed(body: bytes, key: bytes = secret, bus: str = bus_id, **kw) -> dict:
            return signing.sign(key, signing.BUS_TO_AGENT, "POST", "/executions", body,
                                instance_id, bus, **kw)

        targets = {name: tmp_path / f"{name}.txt" for name in
                   ("unsigned", "wrong-key", "other-bus", "stale", "replayed", "tampered")}
        cases = {
            "unsigned": (touch_command(app_dir, 101, targets["unsigned"]), {}),
            "wrong-key": (body := touch_command(app_dir, 102, targets["wrong-key"]),
                          signed(body, key=b"x" * 32)),
            "other-bus": (body := touch_command(app_dir, 103, targets["other-bus"]),
                          signed(body, bus="another-bus")),
            "stale": (body := touch_command(app_dir, 104, targets["stale"]),
                      signed(body, now=time.time() - 120)),
        }
        for name, (body, headers) in cases.items():
            answer = post(body, headers)
            assert answer.status_code == 401, (name, answer.text)
            assert answer.json()["messages"], name
            assert secret.hex() not in answer.text
        tampered = touch_command(app_dir, 105, targets["tampered"])
        answer = post(tampered, signed(touch_command(app_dir, 105, tmp_path / "elsewhere")))
        assert answer.status_code == 401, answer.text
        # A good command runs once; the same request again (same nonce) is refused.
        good = touch_command(app_dir, 106, targets["replayed"])
        headers = signed(good)
        assert post(good, headers).status_code == 202
        wait_until(targets["replayed"].exists, 30, what="the signed command to run")
        targets["replayed"].unlink()
        replay = post(good, headers)
        assert replay.status_code == 401 and "replayed" in replay.text
        stop_forged = httpx.put(f"{agent_url}/executions/106/stop", timeout=10, trust_env=False)
        assert stop_forged.status_code == 401
        dry = httpx.post(f"{agent_url}/dry-runs", json={"document": {}}, timeout=10,
                         trust_env=False)
        assert dry.status_code == 401
        join = httpx.post(f"{agent_url}/join", json={"bus-url": "http://127.0.0.1:9"},
                          timeout=10, trust_env=False)
        assert join.status_code == 401
        assert stays(lambda: not any(path.exists() for path in targets.values()), 2.0)
        assert secret.hex() not in agent.output() and secret.hex() not in bus.output()
    finally:
        stop_all(agent, bus)
