"""One dispatcher per database, however many bus processes or gunicorn workers serve it."""
import re

import pytest

from jsbus.launch import start_agent, start_bus, stop_all, wait_until
from tests.e2e.helpers import deploy, register, run_to_end, wait_for_agents
from tests.e2e import api

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def role(url):
    return api.get(f"{url}/healthcheck", timeout=5).json()["role"]


def test_second_bus_on_the_same_database_serves_the_api_only(tmp_path):
    database = f"sqlite:///{tmp_path / 'shared.db'}"
    first, first_url = start_bus(tmp_path, database=database)
    second, second_url = start_bus(tmp_path, database=database)
    agent = None
    try:
        assert sorted([role(first_url), role(second_url)]) == ["follower", "leader"]
        assert role(first_url) == "leader"
        assert "serves the API only" in second.output()
        agent, _ = start_agent(tmp_path, first_url)
        wait_for_agents(first_url)
        deploy(second_url)
        register(second_url, "VIA-FOLLOWER", ["e2e_batch.Count"])
        # submitted through the follower, dispatched by the leader, visible from both
        execution = run_to_end(second_url, "VIA-FOLLOWER")
        assert execution["job-execution/batch-status"] == "batch-status/completed"
        assert first.output().count("leader: this bus process") == 1
        assert "leader: this bus process" not in second.output()
        # when the leader stops, the follower takes over
        first.stop()
        wait_until(lambda: role(second_url) == "leader", 20, what="the follower to lead")
    finally:
        stop_all(agent, first, second)


def test_two_gunicorn_workers_make_one_dispatcher(tmp_path):
    bus, url = start_bus(tmp_path, extra=["--workers", "2"])
    try:
        wait_until(lambda: "serves the API only" in bus.output()
                   and "leader: this bus process" in bus.output(), 30,
                   what="both workers to start")
        assert len(re.findall(r"leader: this bus process", bus.output())) == 1
        assert len(re.findall(r"serves the API only", bus.output())) == 1
    finally:
        bus.stop()
