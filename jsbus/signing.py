"""Signed messages between a bus and an enrolled agent (``docs/protocol.md``, "Signing").

Every command from the bus and every heartbeat and event batch from an enrolled agent carries
an HMAC-SHA256 over a canonical string, keyed with the agent's 32-byte secret::

    jsbus-signature-v1 \\n direction \\n METHOD \\n path?query \\n sha256(body) hex \\n
    timestamp \\n nonce \\n agent instance id \\n bus id

(one line each, joined with ``\\n``; ``direction`` is ``bus->agent`` or ``agent->bus``). The
receiver refuses a message whose timestamp is more than ``skew`` seconds from its clock, whose
nonce it has seen within ``2 * skew`` seconds, or whose signature does not match.

This module holds no I/O: both sides (``jsbus.agentauth``, the http transport, ``jsagent``) use
it. Secrets never appear in an exception message.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Mapping

VERSION = "jsbus-signature-v1"
BUS_TO_AGENT = "bus->agent"
AGENT_TO_BUS = "agent->bus"
H_AGENT = "X-Jsbus-Agent"
H_BUS = "X-Jsbus-Bus"
H_TIMESTAMP = "X-Jsbus-Timestamp"
H_NONCE = "X-Jsbus-Nonce"
H_SIGNATURE = "X-Jsbus-Signature"
HEADERS = (H_AGENT, H_BUS, H_TIMESTAMP, H_NONCE, H_SIGNATURE)
SECRET_BYTES = 32
DEFAULT_SKEW = 30.0
NONCE_CACHE_SIZE = 65536


class SignatureError(Exception):
    """A message that must be refused; the text says why (never with a secret in it)."""


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body or b"").hexdigest()


def canonical(direction: str, method: str, path: str, body: bytes, timestamp: str, nonce: str,
              agent_id: str, bus_id: str) -> bytes:
    """The exact bytes that are signed. ``path`` includes the query string (``/x?a=1``)."""
    for name, value in (("path", path), ("timestamp", timestamp), ("nonce", nonce),
                        ("agent id", agent_id), ("bus id", bus_id)):
        if "\n" in value:
            raise SignatureError(f"the {name} must not contain a newline")
    return "\n".join((VERSION, direction, method.upper(), path, body_digest(body), timestamp,
                      nonce, agent_id, bus_id)).encode()


def signature(secret: bytes, message: bytes) -> str:
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def sign(secret: bytes, direction: str, method: str, path: str, body: bytes, agent_id: str,
         bus_id: str, now: float | None = None) -> dict[str, str]:
    """The headers that sign one request."""
    timestamp = str(int(time.time() if now is None else now))
    nonce = secrets.token_hex(16)
    mac = signature(secret, canonical(direction, method, path, body, timestamp, nonce, agent_id,
                                      bus_id))
    return {H_AGENT: agent_id, H_BUS: bus_id, H_TIMESTAMP: timestamp, H_NONCE: nonce,
            H_SIGNATURE: mac}


def is_signed(headers: Mapping[str, str]) -> bool:
    """True when the request carries a signature header (whether valid or not)."""
    return _get(headers, H_SIGNATURE) is not None


@dataclass(frozen=True)
class Signed:
    """What a verified message says about itself."""

    agent_id: str
    bus_id: str
    nonce: str


class NonceCache:
    """Nonces seen within ``ttl`` seconds, at most ``size`` of them.

    Bounded in time (entries older than ``ttl`` are forgotten) and in size: when it holds
    ``size`` nonces that are all still fresh, a new one is refused rather than an old one
    forgotten (forgetting would re-open a replay); the sender retries later. Thread-safe.
    """

    def __init__(self, ttl: float, size: int = NONCE_CACHE_SIZE,
                 clock: Callable[[], float] = time.monotonic):
        self.ttl = float(ttl)
        self.size = max(1, int(size))
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()  # nonce -> when seen, oldest first
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._expire(self._clock())
            return len(self._seen)

    def _expire(self, now: float) -> None:
        while self._seen:
            nonce, seen = next(iter(self._seen.items()))
            if now - seen < self.ttl:
                return
            self._seen.popitem(last=False)

    def add(self, nonce: str) -> None:
        """Remember ``nonce``; ``SignatureError`` if it was seen within ``ttl`` or the cache is
        full of fresh nonces."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            if nonce in self._seen:
                raise SignatureError("replayed message: its nonce was seen before")
            if len(self._seen) >= self.size:
                raise SignatureError("too many signed messages at once; retry later")
            self._seen[nonce] = now


class Verifier:
    """Checks signed requests for one receiver (a bus process or an agent)."""

    def __init__(self, direction: str, skew: float = DEFAULT_SKEW,
                 nonce_size: int = NONCE_CACHE_SIZE, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic):
        self.direction = direction
        self.skew = float(skew)
        self.clock = clock
        self.nonces = NonceCache(2 * self.skew, nonce_size, monotonic)

    def verify(self, headers: Mapping[str, str], method: str, path: str, body: bytes,
               secret_for: Callable[[str, str], bytes | None]) -> Signed:
        """Check one request. ``secret_for(agent_id, bus_id)`` is the secret to check with
        (None: that agent and bus share none). Returns who signed; raises ``SignatureError``."""
        values = {name: _get(headers, name) for name in HEADERS}
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise SignatureError(f"unsigned message: missing {', '.join(missing)}")
        timestamp = values[H_TIMESTAMP]
        try:
            sent = int(timestamp)
        except ValueError:
            raise SignatureError(f"{H_TIMESTAMP} must be whole seconds since the epoch") from None
        if abs(self.clock() - sent) > self.skew:
            raise SignatureError(f"stale message: its timestamp is more than {self.skew:g} s "
                                 f"from this clock")
        if not 8 <= len(values[H_NONCE]) <= 128:
            raise SignatureError(f"{H_NONCE} must have 8 to 128 characters")
        agent_id, bus_id = values[H_AGENT], values[H_BUS]
        secret = secret_for(agent_id, bus_id)
        if not secret:
            raise SignatureError(f"agent {agent_id} shares no secret with bus {bus_id} here")
        expected = signature(secret, canonical(self.direction, method, path, body, timestamp,
                                               values[H_NONCE], agent_id, bus_id))
        if not hmac.compare_digest(expected, values[H_SIGNATURE].lower()):
            raise SignatureError("bad signature")
        self.nonces.add(values[H_NONCE])  # only after the signature: strangers fill nothing
        return Signed(agent_id, bus_id, values[H_NONCE])


def _get(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.upper())
    if value is None:
        value = headers.get(name.lower())
    return value.strip() if isinstance(value, str) else value


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def hash_token(token: str) -> str:
    """How a join token is stored: its SHA-256 (a token is 32 random bytes, so no salt needed)."""
    return hashlib.sha256(token.encode()).hexdigest()
