"""Helpers for tests that drive real bus and agent processes over HTTP."""
from __future__ import annotations

from pathlib import Path


from jsbus.follow import FINAL
from jsbus.launch import wait_until
from tests.e2e import api

APP_DIR = Path(__file__).resolve().parent / "app"


def deploy(url: str, app: str = "e2e") -> None:
    response = api.post(f"{url}/apps", json={"name": app, "description": "end-to-end",
                                               "classpath": [APP_DIR.as_uri()]}, timeout=10)
    assert response.status_code in (200, 201), response.text


def register(url: str, job: str, refs: list[str], app: str = "e2e") -> None:
    document = {"id": job, "steps": [{"id": f"STEP-{i + 1}", "batchlet": {"ref": ref}}
                                     for i, ref in enumerate(refs)]}
    response = api.post(f"{url}/{app}/jobs", json=document, timeout=10)
    assert response.status_code in (200, 201), response.text


def run_to_end(url: str, job: str, app: str = "e2e", params: dict | None = None,
               timeout: float = 60) -> dict:
    created = api.post(f"{url}/{app}/job/{job}/executions", json=params or {}, timeout=10)
    assert created.status_code == 201, created.text
    location = url + created.headers["location"]

    def final():
        body = api.get(location, timeout=10).json()
        return body if body["job-execution/batch-status"] in FINAL else None
    return wait_until(final, timeout, interval=0.1, what=f"execution {location} to end")


def wait_for_agents(url: str, count: int = 1, timeout: float = 30) -> list[dict]:
    def ready():
        agents = api.get(f"{url}/agents", timeout=10).json()
        ready_agents = [a for a in agents if a["agent/status"] == "ready"]
        return ready_agents if len(ready_agents) >= count else None
    return wait_until(ready, timeout, what=f"{count} ready agent(s)")


def wait_for_status(location: str, status: str | None = None, timeout: float = 60) -> dict:
    """Poll an execution until it is in ``status`` (default: any final status)."""
    def reached():
        body = api.get(location, timeout=10).json()
        current = body["job-execution/batch-status"]
        return body if (current == status if status else current in FINAL) else None
    return wait_until(reached, timeout, interval=0.1, what=f"{location} to be {status or 'final'}")
