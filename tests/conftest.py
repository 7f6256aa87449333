"""Shared fixtures: real SQLite files in a temp dir, a real Bus, real HTTP through falcon."""
from __future__ import annotations

import os
import tempfile

import falcon.testing
import pytest

from jsbus.api.app import create_app
from jsbus.bus import Bus
from jsbus.config import load_bus_config
from tests.databases import ON_POSTGRESQL, create_database, drop_database

from tests.e2e.api import ADMIN_PASSWORD  # one admin password for in-process and real buses

# Every bus process the tests start makes its admin with this password (fast hashes), and
# the `jsbus` command lines they run log in with it.
os.environ.setdefault("JSBUS_ADMIN_PASSWORD", ADMIN_PASSWORD)
os.environ.setdefault("JSBUS_PASSWORD_COST", "10")
os.environ.setdefault("JSBUS_USER", "admin")
os.environ.setdefault("JSBUS_PASSWORD", ADMIN_PASSWORD)
# Agents the tests stop drain at once (SIGTERM stops what runs, reason "drain"), not in 30 s.
os.environ.setdefault("JSAGENT_DRAIN_GRACE", "0")
# ... and keep their tokens here, not in the home directory of whoever runs the tests.
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="jsbus-e2e-config-")


@pytest.fixture
def database_url(tmp_path):
    """The bus's database: a SQLite file, or a fresh PostgreSQL database (tests/databases.py)."""
    url = create_database(tmp_path)
    yield url
    drop_database(url)


@pytest.fixture(autouse=True)
def launched_database(request, monkeypatch):
    """``jsbus.launch.start_bus`` without a ``database`` uses ``JSBUS_DATABASE``: on PostgreSQL,
    a fresh database for each test that starts bus processes."""
    if ON_POSTGRESQL and "tmp_path" in request.fixturenames and any(
            part in ("e2e", "faults", "integration") for part in request.path.parts):
        url = request.getfixturevalue("database_url")
        monkeypatch.setenv("JSBUS_DATABASE", url)


@pytest.fixture
def bus_config(tmp_path, database_url):
    return load_bus_config(environ={}).with_overrides({
        "bus.database": database_url,
        "bus.data_dir": str(tmp_path),
        "discovery.enabled": False,
        "dispatch.interval": 0.2,
        "bus.admin_password": ADMIN_PASSWORD,
        "bus.password_cost": 10,  # fast hashes for tests; the default is 16
    })


@pytest.fixture
def bus(bus_config):
    instance = Bus(bus_config)
    instance.start()
    yield instance
    instance.stop()


def admin_headers(bus) -> dict[str, str]:
    """An ``Authorization`` header of the admin, who has every permission."""
    return {"Authorization": f"Token {bus.auth.issue(bus.storage.get_user('admin'))}"}


@pytest.fixture
def client(bus):
    """The API as the admin (``anonymous`` is the same API without credentials)."""
    return falcon.testing.TestClient(create_app(bus), headers=admin_headers(bus))


@pytest.fixture
def anonymous(bus):
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
