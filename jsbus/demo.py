"""``jsbus demo``: the whole system once, on loopback, from a fresh SQLite file."""
from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from importlib import resources
from pathlib import Path

import httpx
from rich.console import Console

from jsbus.follow import ApiError, check, follow, status_name
from jsbus.launch import start_agent, start_bus, stop_all, wait_until

APP = "demo"


def example_dir() -> Path:
    return Path(str(resources.files("jsbus") / "examples" / "hello"))


def run_demo(console: Console, keep: bool = False) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="jsbus-demo-"))
    bus = agent = None
    try:
        console.print(f"[bold]jsbus demo[/] in {workdir}")
        password = secrets.token_urlsafe(16)
        bus, url = start_bus(workdir, database=f"sqlite:///{workdir / 'jsbus.db'}",
                             env={"JSBUS_ADMIN_PASSWORD": password})
        console.print(f"bus      {url} (SQLite {workdir / 'jsbus.db'})")
        agent, agent_url = start_agent(workdir, url, name="demo-agent")
        console.print(f"agent    {agent_url}")
        return _scenario(console, url, password)
    except (ApiError, RuntimeError, TimeoutError, httpx.HTTPError) as exc:
        console.print(f"[red]demo failed:[/] {exc}")
        return 1
    finally:
        stop_all(agent, bus)
        if keep:
            console.print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _scenario(console: Console, url: str, password: str) -> int:
    source = example_dir()
    document = json.loads((source / "job.json").read_text())
    token = check(httpx.post(f"{url}/auth", timeout=10.0,
                             json={"user/id": "admin", "user/password": password}))["token"]
    with httpx.Client(base_url=url, timeout=10.0,
                      headers={"Authorization": f"Token {token}"}) as client:
        wait_until(lambda: check(client.get("/agents")), 30, what="the agent to join")
        check(client.post("/apps", json={"name": APP, "description": "jsbus example application",
                                         "classpath": [source.as_uri()]}))
        console.print(f"deployed application {APP!r} from {source}")
        check(client.post(f"/{APP}/jobs", json=document))
        console.print(f"registered job {document['id']!r} with steps "
                      f"{', '.join(step['id'] for step in document['steps'])}")
        created = client.post(f"/{APP}/job/{document['id']}/executions", json={"name": "jsbus"})
        check(created)
        execution = follow(client, created.headers["location"], console, timeout=60)
        for step in execution["job-execution/step-executions"]:
            for line in step["step-execution/logs"]:
                console.print(f"  {step['step-execution/step-name']}: "
                              f"{line['execution-log/message']}")
    status = status_name(execution["job-execution/batch-status"])
    console.print(f"execution {execution['job-execution/execution-id']}: [bold]{status}[/]")
    return 0 if status == "completed" else 1
