"""A plugin installed with pip, as a user would, selected by name as the transport."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from jsbus.launch import start_agent, start_bus, stop_all
from tests.e2e.helpers import deploy, register, run_to_end, wait_for_agents

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "jsbus-recording-transport"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    """pip-installs the plugin into a directory of its own (the test venv stays clean)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--target", str(target), str(PLUGIN)],
                   check=True, timeout=150)
    assert list(target.glob("jsbus_recording_transport-*.dist-info"))
    return target


def test_execution_runs_through_the_selected_third_party_transport(tmp_path, plugin_site):
    record = tmp_path / "commands.jsonl"
    config = tmp_path / "jsbus.toml"
    config.write_text('[plugins]\ntransport = "recording"\n')
    env = {"PYTHONPATH": str(plugin_site), "RECORDING_TRANSPORT_FILE": str(record)}
    bus, url = start_bus(tmp_path, env=env, extra=["--config", str(config)])
    agent = None
    try:
        agent, _ = start_agent(tmp_path, url)
        wait_for_agents(url)
        deploy(url)
        register(url, "VIA-PLUGIN", ["e2e_batch.Count"])
        execution = run_to_end(url, "VIA-PLUGIN")
        assert execution["job-execution/batch-status"] == "batch-status/completed"
        sent = [json.loads(line) for line in record.read_text().splitlines()]
        assert sent == [{"agent": execution["job-execution/agent"]["agent/instance-id"],
                         "execution-id": execution["job-execution/execution-id"],
                         "job": "VIA-PLUGIN"}]
    finally:
        stop_all(agent, bus)


def test_unknown_transport_name_stops_start_up_listing_installed_ones(tmp_path, plugin_site):
    env = {"PYTHONPATH": str(plugin_site), "JSBUS_PLUGINS_TRANSPORT": "pigeon"}
    with pytest.raises(RuntimeError) as info:
        start_bus(tmp_path, env=env, timeout=30)
    assert "unknown transport backend 'pigeon'" in str(info.value)
    assert "http, recording" in str(info.value)
