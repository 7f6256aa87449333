"""Agent trust on the bus: enrollment (approval or join token), signed agent messages,
revocation (``docs/protocol.md``, "Enrollment" and "Signing").

``AgentTrustKeeper`` (``bus.trust``) is used by the heartbeat and events resources
(``jsbus.api.agents``), by the admin routes of ``install(app, bus)`` and by the http transport
(``credentials``, to sign commands). Secrets never leave this module except sealed to the
agent's public key, and never appear in a log line or an error message.
"""
from __future__ import annotations

import base64
import binascii
import logging
import secrets
import threading
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

import falcon
from nacl.exceptions import CryptoError
from nacl.public import PublicKey, SealedBox

from jsbus import signing
from jsbus.errors import Conflict, NotFound, ValidationError
from jsbus.model import AgentInfo, AgentStatus, AgentTrust, BatchStatus, JoinToken, utcnow

log = logging.getLogger(__name__)
PENDING, APPROVED, ENROLLED, REVOKED = "pending", "approved", "enrolled", "revoked"
CREDENTIALS_TTL = 1.0  # seconds a secret read for signing commands is reused
MAX_TOKEN_TTL = 365 * 86400.0


def parse_public_key(value: Any) -> str | None:
    """A heartbeat's ``agent/public-key`` (base64 of 32 bytes), canonical; None when absent."""
    if value is None:
        return None
    try:
        raw = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ValidationError("agent/public-key must be the base64 of a 32-byte Curve25519 key")
    return base64.b64encode(raw).decode()


def seal(public_key: str, secret: bytes) -> str:
    """``secret`` sealed to ``public_key``: only the holder of the private key opens it."""
    try:
        box = SealedBox(PublicKey(base64.b64decode(public_key)))
    except (CryptoError, ValueError, TypeError):
        raise ValidationError("the agent's public key is not usable") from None
    return base64.b64encode(box.encrypt(secret)).decode()


class NotSigned(Exception):
    """An unsigned message where a signed one is required (401)."""


class AgentTrustKeeper:
    def __init__(self, bus):
        self.bus = bus
        self.storage = bus.storage
        self.verifier = signing.Verifier(signing.AGENT_TO_BUS,
                                         float(bus.config.get("agents.signature_skew")))
        self._bus_id: str | None = None
        self._cache: dict[str, tuple[float, tuple[str, bytes] | None]] = {}
        self._lock = threading.Lock()

    # -- identity and bootstrap -------------------------------------------------------------
    @property
    def bus_id(self) -> str:
        if self._bus_id is None:
            self._bus_id = self.storage.bus_identity(secrets.token_hex(16))
        return self._bus_id

    def start(self) -> None:
        """Read (or make) the bus id; register ``agents.bootstrap_join_token`` if set."""
        _ = self.bus_id
        token = self.bus.config.get("agents.bootstrap_join_token")
        if token:
            ttl = float(self.bus.config.get("agents.bootstrap_join_token_ttl"))
            now = utcnow()
            self.storage.create_join_token(signing.hash_token(token), now,
                                           now + timedelta(seconds=ttl), single_use=False,
                                           note="bootstrap (agents.bootstrap_join_token)")
            log.warning("a bootstrap join token is registered (agents.bootstrap_join_token): "
                        "for development only")

    # -- commands: what the transport signs with ------------------------------------------
    def credentials(self, instance_id: str) -> tuple[str, bytes] | None:
        """(bus id, secret) to sign commands to that agent, or None when it has none."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(instance_id)
            if cached is not None and now - cached[0] < CREDENTIALS_TTL:
                return cached[1]
        trust = self.storage.get_agent_trust(instance_id)
        value = ((self.bus_id, trust.secret) if trust is not None and trust.secret
                 and trust.state in (APPROVED, ENROLLED) else None)
        with self._lock:
            if len(self._cache) > 10000:
                self._cache.clear()
            self._cache[instance_id] = (now, value)
        return value

    def _forget(self, instance_id: str) -> None:
        with self._lock:
            self._cache.pop(instance_id, None)

    def _secret_for(self, agent_id: str, bus_id: str) -> bytes | None:
        if bus_id != self.bus_id:
            return None
        trust = self.storage.get_agent_trust(agent_id)
        if trust is None or trust.state not in (APPROVED, ENROLLED):
            return None
        return trust.secret

    # -- messages from agents ---------------------------------------------------------------
    def check(self, req: falcon.Request, instance_id: str, body: bytes) -> AgentTrust | None:
        """Check a heartbeat or event batch. Returns the trust record when the message is
        signed and valid, None when it is unsigned and may be (the agent is not enrolled).
        Raises 403 for a revoked agent, 401 for a bad, stale, replayed or missing signature."""
        trust = self.storage.get_agent_trust(instance_id)
        if trust is not None and trust.state == REVOKED:
            raise falcon.HTTPForbidden(description=f"agent {instance_id} is revoked")
        if not signing.is_signed(req.headers):
            if trust is not None and trust.state == ENROLLED:
                raise NotSigned(f"agent {instance_id} is enrolled: its messages must be signed")
            return None
        path = req.path + (f"?{req.query_string}" if req.query_string else "")
        try:
            signed = self.verifier.verify(req.headers, req.method, path, body, self._secret_for)
        except signing.SignatureError as exc:
            raise NotSigned(str(exc)) from None
        if signed.agent_id != instance_id:
            raise NotSigned("the message is signed for another agent")
        trust = self.storage.get_agent_trust(instance_id)
        if trust.state == APPROVED:  # its first signed message: the secret arrived
            trust = self.storage.save_agent_trust(replace(trust, state=ENROLLED,
                                                          updated_at=utcnow()))
            log.info("agent %s enrolled", instance_id)
        return trust

    def unsigned_heartbeat(self, instance_id: str, public_key: str | None,
                           join_token: Any) -> dict[str, Any]:
        """An unsigned heartbeat of an agent that is not enrolled: keep it pending with its
        key, approve it with a valid join token, hand an approved one its sealed secret.
        Returns the answer's enrollment fields."""
        trust = self.storage.get_agent_trust(instance_id)
        now = utcnow()
        if trust is None or public_key != trust.public_key:
            # New, or a new key before enrollment completed: pending with that key, no secret.
            trust = self.storage.save_agent_trust(AgentTrust(
                instance_id, PENDING, public_key=public_key, via="", updated_at=now))
            self._forget(instance_id)
            log.info("agent %s is pending approval", instance_id)
        if trust.state == PENDING and public_key and isinstance(join_token, str) and join_token:
            used = self.storage.use_join_token(signing.hash_token(join_token), now)
            if used is None:
                log.warning("agent %s presented an unknown, used or expired join token",
                            instance_id)
            else:
                trust = self._approve(trust, public_key, f"join-token:{used.id}")
        if trust.state == APPROVED and trust.secret and trust.public_key == public_key:
            return {"enrollment": {"bus-id": self.bus_id,
                                   "sealed-secret": seal(public_key, trust.secret)}}
        return {}

    def refused_key(self, instance_id: str, public_key: str | None) -> None:
        """An enrolled agent's instance id sent an unsigned heartbeat: keep its other key as a
        candidate an admin may approve (an agent that lost its secret); nothing else changes."""
        trust = self.storage.get_agent_trust(instance_id)
        if (trust is not None and trust.state == ENROLLED and public_key
                and public_key not in (trust.public_key, trust.candidate_key)):
            self.storage.save_agent_trust(replace(trust, candidate_key=public_key,
                                                  updated_at=utcnow()))
            log.warning("agent %s: an unsigned heartbeat offered another public key; it waits "
                        "for approval (PUT /agent/%s/approve)", instance_id, instance_id)

    # -- admin ----------------------------------------------------------------------------
    def _approve(self, trust: AgentTrust, public_key: str, via: str) -> AgentTrust:
        approved = self.storage.save_agent_trust(AgentTrust(
            trust.instance_id, APPROVED, public_key=public_key, secret=signing.new_secret(),
            via=via, updated_at=utcnow()))
        self._forget(trust.instance_id)
        log.info("agent %s approved (%s)", trust.instance_id, via)
        return approved

    def approve(self, instance_id: str) -> AgentTrust:
        self.storage.get_agent(instance_id)  # AgentNotFound: 404
        trust = self.storage.get_agent_trust(instance_id)
        if trust is None or not trust.public_key:
            raise Conflict(f"agent {instance_id} sent no public key: it cannot be approved "
                           f"(it must be a jsagent that speaks the enrollment protocol)")
        if trust.state == REVOKED:
            raise Conflict(f"agent {instance_id} is revoked; a revoked instance id cannot be "
                           f"approved again (start the agent with a new work directory)")
        if trust.state == ENROLLED and trust.candidate_key:
            return self._approve(trust, trust.candidate_key, "admin (new key)")
        if trust.state == PENDING:
            return self._approve(trust, trust.public_key, "admin")
        return trust  # approved or enrolled already: the same again

    def revoke(self, instance_id: str) -> AgentInfo:
        agent = self.storage.get_agent(instance_id)
        trust = self.storage.get_agent_trust(instance_id)
        self.storage.save_agent_trust(AgentTrust(
            instance_id, REVOKED, public_key=trust.public_key if trust else None, secret=None,
            via="revoked", updated_at=utcnow()))
        self._forget(instance_id)
        agent = self.storage.save_agent(replace(agent, status=AgentStatus.REVOKED))
        log.warning("agent %s (%s) revoked", agent.name, instance_id)
        self.bus.agent_revoked(agent)
        return agent

    def state(self, instance_id: str) -> dict[str, Any]:
        trust = self.storage.get_agent_trust(instance_id)
        if trust is None:
            return {"state": PENDING, "key-change-requested?": False}
        return {"state": trust.state, "key-change-requested?": bool(trust.candidate_key),
                "via": trust.via}


# -- admin routes -------------------------------------------------------------------------

def render_token(token: JoinToken) -> dict[str, Any]:
    from jsbus.api.render import rfc3339
    return {"join-token/id": token.id, "join-token/created-at": rfc3339(token.created_at),
            "join-token/expires-at": rfc3339(token.expires_at),
            "join-token/single-use?": token.single_use,
            "join-token/used-at": rfc3339(token.used_at), "join-token/note": token.note}


class ApproveResource:
    """``PUT /agent/{id}/approve``: trust the agent's public key; it enrolls at its next
    heartbeat (idempotent)."""

    def __init__(self, bus):
        self.bus = bus

    def on_put(self, req: falcon.Request, resp: falcon.Response, instance_id: str) -> None:
        from jsbus.api import render
        self.bus.trust.approve(instance_id)
        agent = self.bus.storage.get_agent(instance_id)
        resp.media = {**render.agent(agent), "agent/enrollment": self.bus.trust.state(instance_id)}


class JoinTokensResource:
    """``POST /agents/join-tokens`` (the token is in this answer only) and ``GET`` (no
    tokens, only their facts)."""

    def __init__(self, bus):
        self.bus = bus

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        from jsbus.api.media import read_object
        body = read_object(req, self.bus.config.get("bus.max_body_bytes"), optional=True)
        ttl = body.get("ttl", 3600)
        if (not isinstance(ttl, (int, float)) or isinstance(ttl, bool)
                or not 0 < ttl <= MAX_TOKEN_TTL):
            raise ValidationError(f"ttl must be a number of seconds in (0, {MAX_TOKEN_TTL:g}]")
        single_use = body.get("single-use?", True)
        if not isinstance(single_use, bool):
            raise ValidationError("single-use? must be true or false")
        note = body.get("note", "")
        if not isinstance(note, str) or len(note) > 200:
            raise ValidationError("note must be a string of at most 200 characters")
        token, now = secrets.token_urlsafe(32), utcnow()
        stored = self.bus.storage.create_join_token(
            signing.hash_token(token), now, now + timedelta(seconds=ttl), single_use, note)
        resp.status = falcon.HTTP_201
        resp.media = {**render_token(stored), "join-token": token,
                      "expires-at": render_token(stored)["join-token/expires-at"],
                      "single-use?": single_use}

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = [render_token(t) for t in self.bus.storage.list_join_tokens()]


class JoinTokenResource:
    """``DELETE /agents/join-token/{id}``: the token can no longer be used."""

    def __init__(self, bus):
        self.bus = bus

    def on_delete(self, req: falcon.Request, resp: falcon.Response, token_id: str) -> None:
        if not token_id.isdigit() or not self.bus.storage.delete_join_token(int(token_id)):
            raise NotFound(f"join token {token_id} does not exist")
        resp.status = falcon.HTTP_204


def revoke_active(bus, agent: AgentInfo) -> None:
    """A revoked agent's running executions can no longer report: they become unknown."""
    storage = bus.storage
    for execution in storage.executions_in(
            (BatchStatus.STARTING, BatchStatus.STARTED, BatchStatus.STOPPING), agent.instance_id):
        after = storage.transition_execution(execution.id, BatchStatus.UNKNOWN)
        if after is not None:
            bus._changed(after, execution.batch_status)


def install(app: falcon.App, bus) -> None:
    """The admin routes of agent trust (``DELETE /agent/{id}`` is in ``AgentResource``)."""
    app.add_route("/agent/{instance_id}/approve", ApproveResource(bus))
    app.add_route("/agents/join-tokens", JoinTokensResource(bus))
    app.add_route("/agents/join-token/{token_id}", JoinTokenResource(bus))


__all__ = ["AgentTrustKeeper", "NotSigned", "install"]
