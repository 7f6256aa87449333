"""``jsbus.signing``: the canonical string, the skew, the nonce cache (bounded in size and
time), and the agent's key files (``jsagent.trust``)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import os

import pytest
from nacl.public import PublicKey, SealedBox

from jsagent.trust import AgentKeys
from jsbus import signing

SECRET = b"s" * 32


def test_the_canonical_string_is_nine_lines_exactly():
    text = signing.canonical(signing.BUS_TO_AGENT, "post", "/executions?x=1", b"{}", "100",
                             "n0nce-01", "agent-1", "bus-1")
    assert text == ("jsbus-signature-v1\nbus->agent\nPOST\n/executions?x=1\n"
                    f"{hashlib.sha256(b'{}').hexdigest()}\n100\nn0nce-01\nagent-1\nbus-1").encode()
    headers = signing.sign(SECRET, signing.BUS_TO_AGENT, "POST", "/executions?x=1", b"{}",
                           "agent-1", "bus-1", now=100)
    expected = hmac.new(SECRET, signing.canonical(
        signing.BUS_TO_AGENT, "POST", "/executions?x=1", b"{}", "100",
        headers[signing.H_NONCE], "agent-1", "bus-1"), hashlib.sha256).hexdigest()
    assert headers[signing.H_SIGNATURE] == expected
    with pytest.raises(signing.SignatureError):
        signing.canonical(signing.BUS_TO_AGENT, "GET", "/x", b"", "1", "a\nb", "a", "b")


def verifier(now=1000.0, skew=30.0, size=100):
    clock = {"now": now}
    check = signing.Verifier(signing.BUS_TO_AGENT, skew, size, clock=lambda: clock["now"],
                             monotonic=lambda: clock["now"])
    return check, clock


def secret_for(agent_id, bus_id):
    return SECRET if (agent_id, bus_id) == ("agent-1", "bus-1") else None


def signed(now=1000, body=b"{}", path="/executions", key=SECRET, bus="bus-1",
           direction=signing.BUS_TO_AGENT):
    return signing.sign(key, direction, "POST", path, body, "agent-1", bus, now=now)


def test_a_good_message_passes_once_and_its_replay_is_refused():
    check, _ = verifier()
    headers = signed()
    assert check.verify(headers, "POST", "/executions", b"{}", secret_for).agent_id == "agent-1"
    with pytest.raises(signing.SignatureError, match="replayed"):
        check.verify(headers, "POST", "/executions", b"{}", secret_for)


@pytest.mark.parametrize("headers, method, path, body, why", [
    ({}, "POST", "/executions", b"{}", "unsigned"),
    (signed(now=1000 - 31), "POST", "/executions", b"{}", "stale"),
    (signed(now=1000 + 31), "POST", "/executions", b"{}", "stale"),
    (signed(key=b"k" * 32), "POST", "/executions", b"{}", "bad signature"),
    (signed(bus="bus-2"), "POST", "/executions", b"{}", "shares no secret"),
    (signed(), "POST", "/executions", b'{"x":1}', "bad signature"),
    (signed(), "PUT", "/executions", b"{}", "bad signature"),
    (signed(), "POST", "/executions/batch", b"{}", "bad signature"),
    (signed(direction=signing.AGENT_TO_BUS), "POST", "/executions", b"{}", "bad signature"),
    ({**signed(), signing.H_TIMESTAMP: "soon"}, "POST", "/executions", b"{}", "whole seconds"),
    ({**signed(), signing.H_NONCE: "short"}, "POST", "/executions", b"{}", "8 to 128"),
])
def test_bad_messages_are_refused_and_say_why_without_the_secret(headers, method, path, body,
                                                                  why):
    check, _ = verifier()
    with pytest.raises(signing.SignatureError, match=why) as refused:
        check.verify(headers, method, path, body, secret_for)
    assert SECRET.hex() not in str(refused.value) and SECRET.decode() not in str(refused.value)
    assert len(check.nonces) == 0, "a refused message leaves no nonce behind"


def test_within_the_skew_is_accepted():
    check, _ = verifier()
    for now in (1000 - 30, 1000 + 30):
        check.verify(signed(now=now), "POST", "/executions", b"{}", secret_for)


def test_the_nonce_cache_is_bounded_in_time():
    clock = {"now": 0.0}
    cache = signing.NonceCache(ttl=60, size=10, clock=lambda: clock["now"])
    cache.add("a" * 8)
    clock["now"] = 59.0
    with pytest.raises(signing.SignatureError):
        cache.add("a" * 8)
    clock["now"] = 60.0
    cache.add("a" * 8)  # forgotten after the ttl: the timestamp check refuses it by then
    assert len(cache) == 1


def test_the_nonce_cache_is_bounded_in_size_and_refuses_rather_than_forgets():
    clock = {"now": 0.0}
    cache = signing.NonceCache(ttl=60, size=3, clock=lambda: clock["now"])
    for n in range(3):
        cache.add(f"nonce-{n:03}")
    with pytest.raises(signing.SignatureError, match="too many"):
        cache.add("nonce-new")
    with pytest.raises(signing.SignatureError, match="replayed"):
        cache.add("nonce-000")  # still remembered
    clock["now"] = 61.0
    cache.add("nonce-new")
    assert len(cache) == 1


def test_agent_keys_are_private_files_and_take_only_their_sealed_secret(tmp_path):
    keys = AgentKeys(tmp_path, "agent-1", join_token="tok")
    directory = tmp_path / "trust"
    assert oct(directory.stat().st_mode & 0o777) == "0o700"
    assert oct((directory / "agent.key").stat().st_mode & 0o777) == "0o600"
    assert keys.heartbeat_fields() == {"agent/public-key": keys.public_key,
                                       "agent/join-token": "tok"}
    assert keys.sign("POST", "http://bus/agent/agent-1/events", b"{}") == {}
    with pytest.raises(Exception, match="not enrolled"):
        keys.verify(signed(), "POST", "/executions", b"{}")
    other = SealedBox(PublicKey(os.urandom(32))).encrypt(SECRET)
    assert not keys.accept({"enrollment": {"bus-id": "bus-1",
                                           "sealed-secret": base64.b64encode(other).decode()}})
    sealed = SealedBox(PublicKey(base64.b64decode(keys.public_key))).encrypt(SECRET)
    assert keys.accept({"enrollment": {"bus-id": "bus-1",
                                       "sealed-secret": base64.b64encode(sealed).decode()}})
    assert oct((directory / "enrollment.json").stat().st_mode & 0o777) == "0o600"
    assert keys.heartbeat_fields() == {"agent/public-key": keys.public_key}
    import time
    keys.verify(signed(now=time.time()), "POST", "/executions", b"{}")
    with pytest.raises(signing.SignatureError):
        keys.verify(signed(now=time.time(), bus="bus-2"), "POST", "/executions", b"{}")
    again = AgentKeys(tmp_path, "agent-1")  # a restart keeps the key and the enrollment
    assert again.public_key == keys.public_key and again.enrolled and again.bus_id == "bus-1"
