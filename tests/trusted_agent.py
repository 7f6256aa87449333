"""An agent's side of enrollment for tests that post heartbeats and events through falcon's
TestClient: a key pair, the sealed secret from the bus, signed messages (``jsbus.signing``)."""
from __future__ import annotations

import base64
import json
from typing import Any

from nacl.public import PrivateKey, SealedBox

from jsbus import signing


class TrustedAgent:
    def __init__(self, client, instance_id: str):
        self.client = client
        self.instance_id = instance_id
        self.key = PrivateKey.generate()
        self.public_key = base64.b64encode(bytes(self.key.public_key)).decode()
        self.secret: bytes | None = None
        self.bus_id: str | None = None

    def post(self, path: str, body: dict[str, Any], signed: bool = True):
        raw = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if signed and self.secret is not None:
            headers.update(signing.sign(self.secret, signing.AGENT_TO_BUS, "POST", path, raw,
                                        self.instance_id, self.bus_id))
        return self.client.simulate_post(path, body=raw, headers=headers)

    def get(self, path: str):
        """A signed GET (an artifact download)."""
        return self.client.simulate_get(path, headers=signing.sign(
            self.secret, signing.AGENT_TO_BUS, "GET", path, b"", self.instance_id, self.bus_id))

    def heartbeat(self, document: dict[str, Any], signed: bool = True):
        response = self.post(f"/agent/{self.instance_id}/heartbeat",
                             {**document, "agent/public-key": self.public_key}, signed)
        enrollment = (response.json or {}).get("enrollment") if response.status_code == 200 \
            else None
        if enrollment:
            self.bus_id = enrollment["bus-id"]
            self.secret = SealedBox(self.key).decrypt(
                base64.b64decode(enrollment["sealed-secret"]))
        return response

    def events(self, events: list[dict[str, Any]], signed: bool = True):
        return self.post(f"/agent/{self.instance_id}/events", {"events": events}, signed)

    def enroll(self, document: dict[str, Any]):
        """Heartbeat (pending), approve through the API, heartbeat (the sealed secret), then a
        signed heartbeat: the agent is ready."""
        self.heartbeat(document)
        approved = self.client.simulate_put(f"/agent/{self.instance_id}/approve")
        assert approved.status_code == 200, approved.text
        self.heartbeat(document)
        assert self.secret is not None, "no enrollment in the heartbeat answer"
        response = self.heartbeat(document)
        assert response.status_code == 200 and response.json["agent/status"] == "ready", \
            response.text
        return response


def trusted(client, instance_id: str) -> TrustedAgent:
    """The TrustedAgent of ``instance_id`` for this client (made on first use)."""
    agents = client.__dict__.setdefault("_trusted_agents", {})
    if instance_id not in agents:
        agents[instance_id] = TrustedAgent(client, instance_id)
    return agents[instance_id]


def heartbeat(client, instance_id: str, document: dict[str, Any]):
    """A signed heartbeat of an enrolled agent (enrolling it on its first)."""
    agent = trusted(client, instance_id)
    if agent.secret is None:
        return agent.enroll(document)
    return agent.heartbeat(document)
