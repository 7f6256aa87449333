"""``PUT /agent/{id}/block|unblock`` and ``GET /agent/{id}/monitor/{type}`` through falcon's
TestClient over a real Bus (SQLite in a temp dir), and the dispatch rule they change."""
from __future__ import annotations

import time

import falcon.testing
import pytest

from jsbus.actors.controlbus import AgentSlot
from jsbus.api.app import create_app
from jsbus.bus import Bus
from jsbus.launch import wait_until
from jsbus.model import AgentInfo, AgentStatus
from jsbus.wire import parse_time
from tests.trusted_agent import heartbeat as trusted_heartbeat
from tests.conftest import admin_headers

MEMORY = {"physical": {"free": 1000, "total": 4000}, "swap": {"free": 10, "total": 20}}
CPU = {"process": {"load": 0.25, "time": 1_300_000_000},
       "system": {"load": 0.5, "load-average": 1.5}}


@pytest.fixture
def bus_config(bus_config):
    """Every heartbeat keeps a sample, and at most five of them."""
    return bus_config.with_overrides({"monitor.interval": 0.0, "monitor.max_samples": 5})


def messages(response) -> str:
    return " ".join(response.json["messages"])


def document(instance_id="a-1", free=1000, stats=None):
    memory = {**MEMORY, "physical": {"free": free, "total": 4000}}
    return {"agent/instance-id": instance_id, "agent/name": f"agent-{instance_id}",
            "agent/host": "127.0.0.1", "agent/port": 4510, "agent/capacity": 2,
            "agent/jobs": {"running": 0},
            "agent/stats": {"memory": memory, "cpu": CPU} if stats is None else stats}


def heartbeat(client, instance_id="a-1", **changes):
    """A signed heartbeat of an enrolled agent (``tests.trusted_agent``; enrolled at its first)."""
    response = trusted_heartbeat(client, instance_id, document(instance_id, **changes))
    assert response.status_code == 200, response.json


def slot_blocked(bus, instance_id):
    """What the leader's dispatcher believes (asked through its inbox, after earlier tells)."""
    slot = bus.control.proxy().agents.get().get(instance_id)
    return None if slot is None else slot.info.blocked


# -- block and unblock --------------------------------------------------------------------------

def test_block_and_unblock_are_stored_rendered_and_idempotent(client, bus):
    heartbeat(client)
    assert client.simulate_get("/agent/a-1").json["agent/blocked"] is False
    for _ in range(2):
        response = client.simulate_put("/agent/a-1/block")
        assert response.status_code == 200
        assert (response.json["agent/instance-id"], response.json["agent/blocked"]) == ("a-1", True)
        assert response.json["agent/status"] == "ready"
    assert client.simulate_get("/agent/a-1").json["agent/blocked"] is True
    assert [a["agent/blocked"] for a in client.simulate_get("/agents").json] == [True]
    assert slot_blocked(bus, "a-1") is True
    for _ in range(2):
        response = client.simulate_put("/agent/a-1/unblock")
        assert response.status_code == 200 and response.json["agent/blocked"] is False
    assert client.simulate_get("/agent/a-1").json["agent/blocked"] is False
    assert slot_blocked(bus, "a-1") is False


def test_a_heartbeat_does_not_clear_a_block(client, bus):
    heartbeat(client)
    client.simulate_put("/agent/a-1/block")
    heartbeat(client, free=5)
    agent = client.simulate_get("/agent/a-1").json
    assert (agent["agent/blocked"], agent["agent/status"]) == (True, "ready")
    assert agent["agent/stats"]["memory"]["physical"]["free"] == 5
    assert slot_blocked(bus, "a-1") is True


def test_blocking_an_unknown_agent_is_404(client):
    for command in ("block", "unblock"):
        response = client.simulate_put(f"/agent/ghost/{command}")
        assert response.status_code == 404 and "ghost" in messages(response)
    assert client.simulate_get("/agents").json == []


def test_block_takes_put_only_and_other_commands_are_404(client):
    heartbeat(client)
    for method in (client.simulate_get, client.simulate_post, client.simulate_delete):
        response = method("/agent/a-1/block")
        assert response.status_code == 405 and "allowed: PUT" in messages(response)
    response = client.simulate_put("/agent/a-1/pause")
    assert response.status_code == 404 and messages(response)
    assert client.simulate_get("/agent/a-1").json["agent/blocked"] is False


def test_a_block_outlives_the_bus(bus_config):
    first = Bus(bus_config)
    first.start()
    try:
        client = falcon.testing.TestClient(create_app(first), headers=admin_headers(first))
        heartbeat(client)
        client.simulate_put("/agent/a-1/block")
    finally:
        first.stop()
    second = Bus(bus_config)
    second.start()
    try:
        client = falcon.testing.TestClient(create_app(second), headers=admin_headers(second))
        assert client.simulate_get("/agent/a-1").json["agent/blocked"] is True
        wait_until(lambda: slot_blocked(second, "a-1") is True, 10, what="the leader to know")
    finally:
        second.stop()


def test_the_leader_sees_a_block_made_through_a_follower(bus, client, bus_config):
    assert bus.is_leader
    heartbeat(client)
    assert slot_blocked(bus, "a-1") is False
    follower = Bus(bus_config)
    follower.start()
    try:
        assert not follower.is_leader
        other = falcon.testing.TestClient(create_app(follower), headers=admin_headers(follower))
        assert other.simulate_put("/agent/a-1/block").json["agent/blocked"] is True
        wait_until(lambda: slot_blocked(bus, "a-1") is True, 10,
                   what="the leader to reconcile the block")
        other.simulate_put("/agent/a-1/unblock")
        wait_until(lambda: slot_blocked(bus, "a-1") is False, 10,
                   what="the leader to reconcile the unblock")
    finally:
        follower.stop()


def test_the_dispatch_rule_skips_blocked_agents():
    now = time.monotonic()
    agent = AgentInfo(instance_id="a-1", name="a", host="127.0.0.1", port=4510, capacity=2)
    assert AgentSlot(agent, ref=None).can_take(now)
    assert not AgentSlot(AgentInfo(**{**vars(agent), "blocked": True}), ref=None).can_take(now)
    assert not AgentSlot(AgentInfo(**{**vars(agent), "status": AgentStatus.LOST}),
                         ref=None).can_take(now)
    assert not AgentSlot(agent, ref=None, running=2).can_take(now)


# -- monitor ------------------------------------------------------------------------------------

def test_monitor_series_of_memory_and_cpu(client):
    for free in (300, 200, 100):
        heartbeat(client, free=free)
    memory = client.simulate_get("/agent/a-1/monitor/memory")
    assert memory.status_code == 200
    assert (memory.json["agent/instance-id"], memory.json["type"]) == ("a-1", "memory")
    series = memory.json["series"]
    assert [point["values"]["physical"]["free"] for point in series] == [300, 200, 100]
    assert series[0]["values"]["swap"] == MEMORY["swap"]
    times = [parse_time(point["time"], "time") for point in series]
    assert times == sorted(times) and series[0]["time"].endswith("Z")
    cpu = client.simulate_get("/agent/a-1/monitor/cpu").json
    assert cpu["type"] == "cpu" and [point["values"] for point in cpu["series"]] == [CPU] * 3


def test_monitor_keeps_only_the_known_numeric_figures(client):
    stats = {"memory": {"physical": {"free": 7, "total": 9, "extra": 1}, "swap": "n/a"},
             "cpu": {"process": {"load": "high"}},
             "disk": {"free": 1}}
    heartbeat(client, stats=stats)
    assert [p["values"] for p in client.simulate_get("/agent/a-1/monitor/memory").json[
        "series"]] == [{"physical": {"free": 7, "total": 9}}]
    assert client.simulate_get("/agent/a-1/monitor/cpu").json["series"] == []


def test_monitor_of_an_agent_without_stats_is_empty(client):
    heartbeat(client, stats={})
    response = client.simulate_get("/agent/a-1/monitor/cpu")
    assert response.status_code == 200 and response.json["series"] == []


def test_monitor_keeps_at_most_max_samples(client):
    for free in range(1, 8):
        heartbeat(client, free=free)
    series = client.simulate_get("/agent/a-1/monitor/memory").json["series"]
    assert [point["values"]["physical"]["free"] for point in series] == [3, 4, 5, 6, 7]


def test_monitor_since_and_limit(client):
    for free in (1, 2, 3, 4):
        heartbeat(client, free=free)
    series = client.simulate_get("/agent/a-1/monitor/memory").json["series"]
    third = series[2]["time"]

    def frees(**params):
        response = client.simulate_get("/agent/a-1/monitor/memory", params=params)
        assert response.status_code == 200, response.json
        return [point["values"]["physical"]["free"] for point in response.json["series"]]
    assert frees(since=third) == [3, 4]
    assert frees(since=third.replace("Z", "+00:00")) == [3, 4]
    assert frees(limit=2) == [3, 4]
    assert frees(limit=1000) == [1, 2, 3, 4]
    assert frees(since=series[0]["time"], limit=1) == [4]
    assert frees(since="2999-01-01T00:00:00Z") == []
    # An offset whose "+" was not escaped arrives as a space.
    response = client.simulate_get("/agent/a-1/monitor/memory",
                                   query_string="since=" + third.replace("Z", "+00:00"))
    assert len(response.json["series"]) == 2


@pytest.mark.parametrize("overrides, expected", [
    ({"monitor.interval": 60.0}, [1]),  # one sample a minute: the first heartbeat's
    ({"monitor.max_samples": 0}, []),  # none kept: the monitor is off
])
def test_monitor_configuration(bus_config, overrides, expected):
    configured = Bus(bus_config.with_overrides(overrides))
    configured.start()
    try:
        client = falcon.testing.TestClient(create_app(configured), headers=admin_headers(configured))
        for free in (1, 2, 3):
            heartbeat(client, free=free)
        series = client.simulate_get("/agent/a-1/monitor/memory").json["series"]
        assert [point["values"]["physical"]["free"] for point in series] == expected
    finally:
        configured.stop()


@pytest.mark.parametrize("path, params, expected", [
    ("/agent/a-1/monitor/disk", {}, "type must be one of memory, cpu"),
    ("/agent/a-1/monitor/memory", {"since": "yesterday"}, "since must be an RFC 3339 time"),
    ("/agent/a-1/monitor/memory", {"since": "2026-13-01T00:00:00Z"}, "since must be"),
    ("/agent/a-1/monitor/memory", {"limit": "0"}, "limit"),
    ("/agent/a-1/monitor/cpu", {"limit": "ten"}, "limit"),
    ("/agent/a-1/monitor/cpu", {"limit": "-3"}, "limit"),
])
def test_monitor_validation_errors(client, path, params, expected):
    heartbeat(client)
    response = client.simulate_get(path, params=params)
    assert response.status_code == 400 and expected in messages(response), response.json


def test_monitor_of_an_unknown_agent_is_404(client):
    for kind in ("memory", "cpu", "disk"):
        response = client.simulate_get(f"/agent/ghost/monitor/{kind}")
        assert response.status_code == 404 and "ghost" in messages(response)
    response = client.simulate_get("/agent/a-1/monitor")
    assert response.status_code == 404
