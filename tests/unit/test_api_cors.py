"""CORS for the configured origins only, as the original did it (falcon's TestClient over a real
Bus on a real SQLite file)."""
from __future__ import annotations

import falcon.testing
import pytest

from jsbus.api.app import create_app
from jsbus.bus import Bus
from tests.conftest import admin_headers

pytestmark = pytest.mark.timeout(60)
CONSOLE = "https://console.example.test"


@pytest.fixture
def cors_client(bus_config):
    bus = Bus(bus_config.with_overrides({"bus.cors_origins": [CONSOLE]}))
    bus.start()
    yield falcon.testing.TestClient(create_app(bus), headers=admin_headers(bus))
    bus.stop()


def test_an_allowed_origin_gets_the_headers_and_its_preflight_answered(cors_client):
    answer = cors_client.simulate_get("/apps", headers={"Origin": CONSOLE})
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == CONSOLE
    assert answer.headers["access-control-allow-credentials"] == "true"
    error = cors_client.simulate_get("/nowhere/jobs", headers={"Origin": CONSOLE})
    assert error.status_code == 404
    assert error.headers["access-control-allow-origin"] == CONSOLE
    preflight = cors_client.simulate_options("/apps", headers={
        "Origin": CONSOLE, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-methods"] == "POST,GET,PUT,DELETE,OPTIONS"
    assert "Content-Type" in preflight.headers["access-control-allow-headers"]
    assert cors_client.simulate_get("/apps").json == [], "the preflight created nothing"


def test_other_origins_and_the_default_get_no_cors_headers(cors_client, client):
    other = cors_client.simulate_get("/apps", headers={"Origin": "https://evil.example.test"})
    assert other.status_code == 200
    assert "access-control-allow-origin" not in other.headers
    default = client.simulate_get("/apps", headers={"Origin": CONSOLE})
    assert "access-control-allow-origin" not in default.headers
