"""Start an execution over the REST API and follow it with a live display until it ends."""
from __future__ import annotations

import time

import httpx
from rich.console import Console
from rich.live import Live
from rich.table import Table

FINAL = {"batch-status/completed", "batch-status/failed", "batch-status/stopped",
         "batch-status/abandoned"}


class ApiError(Exception):
    """The bus answered with an error; the message carries its ``messages``."""


def check(response: httpx.Response) -> dict:
    if response.status_code >= 400:
        try:
            messages = response.json().get("messages", [])
        except ValueError:
            messages = [response.text]
        raise ApiError(f"{response.request.method} {response.request.url.path}: "
                       f"{response.status_code} {'; '.join(map(str, messages))}")
    return response.json() if response.content else {}


def status_name(ident: str | None) -> str:
    return (ident or "").rsplit("/", 1)[-1]


def clock_time(value: str | None) -> str:
    """``2026-11-28T22:34:16.123Z`` -> ``22:34:16.123`` (the table shows UTC times)."""
    return value[11:23] if value else ""


def execution_table(execution: dict) -> Table:
    table = Table(title=f"{execution['job-execution/app']}/{execution['job-execution/job-name']}"
                        f" execution {execution['job-execution/execution-id']}: "
                        f"{status_name(execution['job-execution/batch-status'])}")
    for column in ("step", "status", "start (UTC)", "end (UTC)", "exit status"):
        table.add_column(column)
    for step in execution.get("job-execution/step-executions", []):
        table.add_row(step["step-execution/step-name"],
                      status_name(step["step-execution/batch-status"]),
                      clock_time(step["step-execution/start-time"]),
                      clock_time(step["step-execution/end-time"]),
                      step["step-execution/exit-status"] or "")
    agent = execution.get("job-execution/agent") or {}
    table.caption = (f"agent {agent.get('agent/name') or '-'}; exit status "
                     f"{execution.get('job-execution/exit-status') or '-'}")
    return table


def follow(client: httpx.Client, location: str, console: Console, timeout: float,
           interval: float = 0.25) -> dict:
    """Poll ``location`` until the execution is final (or ``timeout`` seconds pass)."""
    deadline = time.monotonic() + timeout
    execution = check(client.get(location))
    with Live(execution_table(execution), console=console, refresh_per_second=8,
              transient=False) as live:
        while execution["job-execution/batch-status"] not in FINAL:
            if time.monotonic() > deadline:
                raise ApiError(f"execution still {status_name(execution['job-execution/batch-status'])}"
                               f" after {timeout:.0f}s")
            time.sleep(interval)
            execution = check(client.get(location))
            live.update(execution_table(execution))
    console.print()
    return execution


def run_job(client: httpx.Client, app: str, job: str, parameters: dict[str, str],
            console: Console, timeout: float) -> dict:
    with client:
        created = client.post(f"/{app}/job/{job}/executions", json=parameters)
        check(created)
        return follow(client, created.headers["location"], console, timeout)
