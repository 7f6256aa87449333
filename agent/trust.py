"""The agent's side of enrollment and signing (``docs/protocol.md``, "Enrollment").

Kept in ``<work dir>/trust/`` (a 0700 directory): ``agent.key`` (the Curve25519 private key,
0600) and, once enrolled, ``enrollment.json`` (the bus id and the 32-byte secret, 0600).

Before enrollment the agent sends its public key (and its join token, if configured) in its
heartbeats and refuses every command. A heartbeat answer with ``enrollment`` carries the secret
sealed to its public key and the bus id: from then on it signs every request to the bus and
accepts only commands signed with that secret for that bus id.
"""
from __future__ import annotations

import base64
import json as _json
import logging
import os
import threading
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import unquote

import httpx
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, SealedBox

from jsbus import signing
from jsbus.errors import ConfigurationError

log = logging.getLogger(__name__)
TRUST_DIR = "trust"
KEY_FILE = "agent.key"
ENROLLMENT_FILE = "enrollment.json"


class NotEnrolled(Exception):
    """A command arrived before enrollment (or the enrollment was lost)."""


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, readable by the owner only, atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


class AgentKeys:
    """The agent's key pair, its enrollment, and the checks of the bus's commands."""

    def __init__(self, work_dir: Path, instance_id: str, join_token: str = "",
                 skew: float = signing.DEFAULT_SKEW):
        self.directory = private_dir(Path(work_dir) / TRUST_DIR)
        self.instance_id = instance_id
        self.join_token = join_token
        self.verifier = signing.Verifier(signing.BUS_TO_AGENT, skew)
        self._lock = threading.Lock()
        self._key = self._load_key()
        self.public_key = base64.b64encode(bytes(self._key.public_key)).decode()
        self._bus_id, self._secret = self._load_enrollment()

    def _load_key(self) -> PrivateKey:
        path = self.directory / KEY_FILE
        if path.exists():
            try:
                return PrivateKey(base64.b64decode(path.read_bytes().strip(), validate=True))
            except (ValueError, CryptoError):
                raise ConfigurationError(f"{path} does not hold a private key; remove it (and "
                                         f"{ENROLLMENT_FILE}) to enroll anew") from None
        key = PrivateKey.generate()
        write_private(path, base64.b64encode(bytes(key)) + b"\n")
        return key

    def _load_enrollment(self) -> tuple[str | None, bytes | None]:
        path = self.directory / ENROLLMENT_FILE
        if not path.exists():
            return None, None
        try:
            data = _json.loads(path.read_text())
            secret = bytes.fromhex(data["secret"])
            if len(secret) != signing.SECRET_BYTES or not data["bus-id"]:
                raise ValueError
            return str(data["bus-id"]), secret
        except (ValueError, KeyError, TypeError):
            log.error("%s is unreadable: this agent enrolls anew", path)
            return None, None

    @property
    def enrolled(self) -> bool:
        with self._lock:
            return self._secret is not None

    @property
    def bus_id(self) -> str | None:
        with self._lock:
            return self._bus_id

    def heartbeat_fields(self) -> dict[str, Any]:
        """What the heartbeat document adds: the public key, and the join token until
        enrolled."""
        fields: dict[str, Any] = {"agent/public-key": self.public_key}
        if self.join_token and not self.enrolled:
            fields["agent/join-token"] = self.join_token
        return fields

    def accept(self, answer: Any) -> bool:
        """Take the ``enrollment`` of a heartbeat answer, if any; True when newly enrolled."""
        enrollment = answer.get("enrollment") if isinstance(answer, dict) else None
        if not isinstance(enrollment, dict) or self.enrolled:
            return False
        bus_id, sealed = enrollment.get("bus-id"), enrollment.get("sealed-secret")
        if not isinstance(bus_id, str) or not bus_id or not isinstance(sealed, str):
            log.warning("the bus sent an enrollment without bus-id or sealed-secret")
            return False
        try:
            secret = SealedBox(self._key).decrypt(base64.b64decode(sealed, validate=True))
        except (CryptoError, ValueError):
            log.warning("the bus sent a sealed secret this agent cannot open")
            return False
        if len(secret) != signing.SECRET_BYTES:
            log.warning("the bus sent a secret of the wrong size")
            return False
        write_private(self.directory / ENROLLMENT_FILE,
                      _json.dumps({"bus-id": bus_id, "secret": secret.hex()}).encode())
        with self._lock:
            self._bus_id, self._secret = bus_id, secret
        log.info("enrolled with bus %s", bus_id)
        return True

    # -- outgoing -------------------------------------------------------------------------
    def sign(self, method: str, url: str, content: bytes) -> dict[str, str]:
        """Headers that sign a request to the bus ({} before enrollment)."""
        with self._lock:
            bus_id, secret = self._bus_id, self._secret
        if secret is None:
            return {}
        parsed = httpx.URL(url)
        path = unquote(parsed.path) + (f"?{parsed.query.decode()}" if parsed.query else "")
        return signing.sign(secret, signing.AGENT_TO_BUS, method, path, content,
                            self.instance_id, bus_id)

    # -- incoming -------------------------------------------------------------------------
    def verify(self, headers: Mapping[str, str], method: str, path: str, body: bytes) -> None:
        """Accept a command only when signed with the secret, for this agent, by the bus it
        enrolled with; raises ``NotEnrolled`` or ``signing.SignatureError``."""
        with self._lock:
            bus_id, secret = self._bus_id, self._secret
        if secret is None:
            raise NotEnrolled("this agent is not enrolled with a bus: it takes no commands")

        def secret_for(agent_id: str, claimed_bus: str) -> bytes | None:
            return secret if agent_id == self.instance_id and claimed_bus == bus_id else None

        self.verifier.verify(headers, method, path, body, secret_for)


class SigningClient:
    """An httpx client for the bus whose requests are signed once the agent is enrolled."""

    def __init__(self, client: httpx.Client, keys: AgentKeys | None):
        self._client = client
        self._keys = keys

    def post(self, url: str, json: Any = None) -> httpx.Response:  # noqa: A002 - httpx's name
        content = _json.dumps(json, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
        if self._keys is not None:
            headers.update(self._keys.sign("POST", url, content))
        return self._client.post(url, content=content, headers=headers)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if self._keys is not None:
            headers.update(self._keys.sign("GET", url, b""))
        return self._client.get(url, headers=headers, **kwargs)

    def stream(self, method: str, url: str, **kwargs: Any):
        headers = dict(kwargs.pop("headers", None) or {})
        if self._keys is not None:
            headers.update(self._keys.sign(method, url, b""))
        return self._client.stream(method, url, headers=headers, **kwargs)

    def close(self) -> None:
        self._client.close()
