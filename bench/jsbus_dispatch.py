"""One round of jsbus dispatch throughput: ``count`` executions of a one-step job whose batchlet
returns at once (``bench_batch.Noop``), submitted through the REST API by ``clients`` concurrent
HTTP clients, timed from the first request to the last ``completed`` (the latest end time the
bus recorded; bus and benchmark share the machine's clock).

Used by ``bench/dispatch.py`` (beside Celery) and ``bench/history.py`` (on a database with a
long history).
"""
from __future__ import annotations

import http.client
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from urllib.parse import urlsplit

from bench.common import Bus, wait_until

NOT_ENDED = "undispatched,unrestarted,queued,starting,started,stopping,unknown"


def when(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def submit(bus: Bus, job: str, count: int, app: str = "bench") -> list[int]:
    """``count`` POSTs on one keep-alive connection. The standard library's client costs the
    machine a quarter of what httpx does per request, and this process shares the machine's
    two cores with the bus and its agents (as Celery's client shares them with Redis and its
    workers)."""
    url = urlsplit(bus.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    headers = {**bus.headers, "Content-Type": "application/json"}
    ids = []
    try:
        for _ in range(count):
            connection.request("POST", f"/{app}/job/{job}/executions", b"{}", headers)
            answer = connection.getresponse()
            body = answer.read()
            if answer.status != 201:
                raise RuntimeError(f"POST executions: {answer.status} {body[:200]!r}")
            ids.append(json.loads(body)["job-execution/execution-id"])
    finally:
        connection.close()
    return ids


def settled(bus: Bus, job: str, app: str = "bench") -> bool:
    answer = bus.client.get(f"/{app}/job/{job}/executions",
                            params={"batch-status": NOT_ENDED, "limit": 1})
    return answer.raise_for_status().json()["hits"] == 0


def ended(bus: Bus, job: str, ids: set[int], app: str = "bench") -> list[dict]:
    """The executions ``ids`` as the API shows them (newest first, in pages)."""
    found, offset = [], 0
    while len(found) < len(ids):
        page = bus.client.get(f"/{app}/job/{job}/executions",
                              params={"limit": 1000, "offset": offset}).raise_for_status().json()
        if not page["results"]:
            break
        found += [e for e in page["results"] if e["job-execution/execution-id"] in ids]
        if min(e["job-execution/execution-id"] for e in page["results"]) <= min(ids):
            break
        offset += 1000
    return found


def dispatch_round(bus: Bus, count: int = 2000, clients: int = 8, job: str = "Noop",
                   timeout: float = 600.0) -> dict:
    """Submit ``count`` executions and wait (bounded) until every one has ended."""
    share = [count // clients + (1 if n < count % clients else 0) for n in range(clients)]
    start = time.time()
    with ThreadPoolExecutor(clients) as pool:
        ids = [i for part in pool.map(lambda n: submit(bus, job, n), share) for i in part]
    submitted = time.time()
    wait_until(lambda: settled(bus, job), timeout, interval=0.2, what="every execution to end")
    executions = ended(bus, job, set(ids))
    completed = [e for e in executions if e["job-execution/batch-status"]
                 == "batch-status/completed"]
    last = max((when(e["job-execution/end-time"]) for e in completed), default=time.time())
    elapsed = last - start
    return {"executions": count, "completed": len(completed),
            "not_completed": count - len(completed), "clients": clients,
            "seconds": round(elapsed, 3),
            "submit_seconds": round(submitted - start, 3),
            "per_second": round(len(completed) / elapsed, 1) if elapsed > 0 else None}
