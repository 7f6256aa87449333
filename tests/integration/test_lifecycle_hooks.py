"""Lifecycle hooks fire once per event, in order: an in-process bus (so a plugin object can
record the calls) with its API on a loopback port, and a real agent process."""
import signal
import threading

import pytest

from jsbus.api.app import create_app
from jsbus.bus import Bus
from jsbus.devserver import BackgroundServer
from jsbus.hookspecs import hookimpl
from jsbus.launch import dev_join_token, start_agent, wait_until
from jsbus.plugins import PluginHost
from tests.e2e import api
from tests.e2e.helpers import deploy, register, run_to_end, wait_for_agents

pytestmark = pytest.mark.timeout(90)


class Recorder:
    """A plugin that records every lifecycle hook call."""

    def __init__(self):
        self.calls = []
        self.lock = threading.Lock()

    @hookimpl
    def jsbus_execution_status_changed(self, execution, previous):
        with self.lock:
            self.calls.append(("status", execution.id, previous.value,
                               execution.batch_status.value))

    @hookimpl
    def jsbus_agent_joined(self, agent):
        with self.lock:
            self.calls.append(("joined", agent.instance_id))

    @hookimpl
    def jsbus_agent_lost(self, agent):
        with self.lock:
            self.calls.append(("lost", agent.instance_id))


@pytest.fixture
def live_bus(bus_config, tmp_path):
    recorder = Recorder()
    server = BackgroundServer()
    config = bus_config.with_overrides({"bus.bind": f"127.0.0.1:{server.port}",
                                        "agents.lease": 2.0,
                                        # the agent start_agent starts in tmp_path enrolls
                                        "agents.bootstrap_join_token": dev_join_token(tmp_path)})
    bus = Bus(config, PluginHost(config, plugins=[recorder]))
    bus.start()
    server.start(create_app(bus))
    yield server.url, recorder
    server.stop()
    bus.stop()


def test_hooks_fire_once_per_transition_and_per_agent_event(live_bus, tmp_path):
    url, recorder = live_bus
    agent, _ = start_agent(tmp_path, url, extra=["--capacity", "1"])
    try:
        instance_id = wait_for_agents(url)[0]["agent/instance-id"]
        deploy(url)
        register(url, "HOOKED", ["e2e_batch.Count"])
        execution = run_to_end(url, "HOOKED")
        assert execution["job-execution/batch-status"] == "batch-status/completed"
        execution_id = execution["job-execution/execution-id"]
        assert [c for c in recorder.calls if c[0] == "status"] == [
            ("status", execution_id, "undispatched", "queued"),
            ("status", execution_id, "queued", "starting"),
            ("status", execution_id, "starting", "started"),
            ("status", execution_id, "started", "completed")]
        # the agent dies without a goodbye: its lease runs out and it is lost, once
        agent.popen.send_signal(signal.SIGKILL)
        agent.popen.wait(10)
        wait_until(lambda: ("lost", instance_id) in recorder.calls, 20, what="the agent lost")
        assert api.get(f"{url}/agent/{instance_id}").json()["agent/status"] == "lost"
        assert [c for c in recorder.calls if c[0] != "status"] == [("joined", instance_id),
                                                                   ("lost", instance_id)]
    finally:
        agent.stop()
