"""Helpers of the recovery end-to-end tests: a job whose runs append their execution ids to a
file, and the counting of them."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import psutil

from jsbus.follow import FINAL
from jsbus.launch import wait_until
from tests.e2e import api
from tests.e2e.helpers import deploy

APPEND_JOB = "APPEND"


def register_append_job(url: str, ledger: Path, seconds: float) -> None:
    """App ``e2e`` with job APPEND: one step that appends its execution id to ``ledger``."""
    deploy(url)
    document = {"id": APPEND_JOB, "restartable": True, "steps": [
        {"id": "STEP-1", "batchlet": {"ref": "e2e_recovery.AppendId",
                                      "properties": {"path": str(ledger),
                                                     "seconds": str(seconds)}}}]}
    response = api.post(f"{url}/e2e/jobs", json=document, timeout=10)
    assert response.status_code in (200, 201), response.text


def submit(url: str, job: str = APPEND_JOB) -> int:
    created = api.post(f"{url}/e2e/job/{job}/executions", json={}, timeout=10)
    assert created.status_code == 201, created.text
    return created.json()["job-execution/execution-id"]


def statuses(url: str, ids: list[int], job: str = APPEND_JOB) -> dict[int, str]:
    found = {}
    for execution_id in ids:
        body = api.get(f"{url}/e2e/job/{job}/execution/{execution_id}", timeout=10).json()
        found[execution_id] = body["job-execution/batch-status"]
    return found


def wait_all_final(url: str, ids: list[int], timeout: float) -> dict[int, str]:
    def done():
        try:
            found = statuses(url, ids)
        except httpx.HTTPError:  # a kept-alive connection to the killed bus: ask again
            return None
        return found if all(status in FINAL for status in found.values()) else None
    return wait_until(done, timeout, interval=0.2, what=f"executions {ids} to end")


def runs(ledger: Path) -> Counter:
    if not ledger.exists():
        return Counter()
    return Counter(int(line) for line in ledger.read_text().split())


def kill_9(process) -> None:
    """SIGKILL a ``jsbus serve`` (the gunicorn master) and its workers at once: a crashed bus
    host, not one whose orphaned worker could still finish its work."""
    master = psutil.Process(process.popen.pid)
    for child in master.children(recursive=True):
        child.kill()
    process.popen.kill()
    process.popen.wait(10)
