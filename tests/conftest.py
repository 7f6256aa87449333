"""Shared fixtures: real SQLite files in a temp dir, a real Bus, real HTTP through falcon."""
from __future__ import annotations

import falcon.testing
import pytest

from jsbus.api.app import create_app
from jsbus.bus import Bus
from jsbus.config import load_bus_config


@pytest.fixture
def bus_config(tmp_path):
    return load_bus_config(environ={}).with_overrides({
        "bus.database": f"sqlite:///{tmp_path / 'bus.db'}",
        "bus.data_dir": str(tmp_path),
        "discovery.enabled": False,
        "dispatch.interval": 0.2,
    })


@pytest.fixture
def bus(bus_config):
    instance = Bus(bus_config)
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def client(bus):
    return falcon.testing.TestClient(create_app(bus))


@pytest.fixture
def app_dir(tmp_path):
    """A deployable application directory with a trivial batchlet module."""
    directory = tmp_path / "app"
    directory.mkdir()
    (directory / "unit_batch.py").write_text(
        "class Noop:\n    def process(self):\n        return 'DONE'\n")
    return directory


@pytest.fixture
def deployed(client, app_dir):
    """An application ``shop`` with a two-step job ``JOB-1``."""
    response = client.simulate_post("/apps", json={"name": "shop", "description": "test",
                                                   "classpath": [app_dir.as_uri()]})
    assert response.status_code == 201, response.json
    document = {"id": "JOB-1", "steps": [{"id": "STEP-1", "batchlet": {"ref": "unit_batch.Noop"}},
                                         {"id": "STEP-2", "batchlet": {"ref": "unit_batch.Noop"}}]}
    response = client.simulate_post("/shop/jobs", json=document)
    assert response.status_code == 201, response.json
    return "shop", "JOB-1"
