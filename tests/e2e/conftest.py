import pytest

from jsbus.launch import start_agent, start_bus


@pytest.fixture
def running_bus(tmp_path):
    process, url = start_bus(tmp_path)
    yield url
    process.stop()


@pytest.fixture
def running_agent(tmp_path, running_bus):
    process, agent_url = start_agent(tmp_path, running_bus)
    yield process
    process.stop()
