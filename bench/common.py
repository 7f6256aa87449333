"""What every benchmark shares: a logged-in bus with agents on loopback, CPU and memory of
process trees, percentiles, and the machine and versions a figure was measured on.

Each benchmark module has ``run(args) -> dict`` (its figures, JSON-ready) and ``add_arguments``;
``python -m bench`` runs them all and writes the report (``bench/report.py``).
"""
from __future__ import annotations

import contextlib
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Iterator

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
APP_DIR = Path(__file__).resolve().parent / "app"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from jsbus.launch import Process, start_agent, start_bus, stop_all, wait_until  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def spread(values: list[float], scale: float = 1000.0, digits: int = 1) -> dict:
    """p50, p99, max and min of ``values`` (seconds), times ``scale`` (milliseconds)."""
    if not values:
        return {"p50": None, "p99": None, "max": None, "min": None, "count": 0}
    return {"p50": round(scale * statistics.median(values), digits),
            "p99": round(scale * percentile(values, 0.99), digits),
            "max": round(scale * max(values), digits),
            "min": round(scale * min(values), digits), "count": len(values)}


def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root] + root.children(recursive=True)
    except psutil.Error:
        return []


def cpu_seconds(pid: int) -> float:
    """CPU time of a process tree: the process, its live descendants and the children they
    reaped (an agent's zygote reaps its workers; gunicorn's arbiter its worker)."""
    total = 0.0
    for process in tree(pid):
        with contextlib.suppress(psutil.Error):
            t = process.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


def rss_bytes(pid: int) -> int:
    total = 0
    for process in tree(pid):
        with contextlib.suppress(psutil.Error):
            total += process.memory_info().rss
    return total


def thread_count(pid: int) -> int:
    total = 0
    for process in tree(pid):
        with contextlib.suppress(psutil.Error):
            total += process.num_threads()
    return total


def versions(*names: str) -> dict:
    found = {"python": platform.python_version()}
    for name in ("jsbus", "falcon", "gunicorn", "peewee", "pykka", *names):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def machine() -> dict:
    memory = psutil.virtual_memory().total
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_gb": round(memory / 2**30, 1),
            "platform": platform.platform()}


@dataclass
class Bus:
    """A running ``jsbus serve`` (its Process), its URL and an admin client."""
    process: Process
    url: str
    workdir: Path
    client: httpx.Client
    headers: dict
    agents: list[Process] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.popen.pid

    def new_client(self, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=timeout)

    def deploy(self, app: str = "bench") -> None:
        self.client.post("/apps", json={"name": app, "classpath": [APP_DIR.as_uri()]}
                         ).raise_for_status()

    def add_job(self, name: str, batchlet: str, app: str = "bench") -> None:
        self.client.post(f"/{app}/jobs", json={"id": name, "steps": [
            {"id": "step", "batchlet": {"ref": f"bench_batch.{batchlet}"}}]}).raise_for_status()


@contextlib.contextmanager
def running_bus(agents: int = 1, *, env: dict | None = None, agent_env: dict | None = None,
                capacity: int = 64, database: str | None = None,
                workdir: Path | None = None, extra: list[str] = ()) -> Iterator[Bus]:
    """A bus (SQLite in a temporary directory unless ``database``) with ``agents`` agents
    connected directly on loopback (no discovery), the admin logged in; all stopped after."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="jsbus-bench-"))
    password = secrets.token_urlsafe(16)
    process, url = start_bus(workdir, database=database, extra=list(extra),
                             env={"JSBUS_ADMIN_PASSWORD": password, **(env or {})})
    started: list[Process] = []
    client = None
    try:
        for n in range(agents):
            agent, _ = start_agent(workdir, url, name=f"bench-agent-{n + 1}", env=agent_env,
                                   extra=["--capacity", str(capacity)])
            started.append(agent)
        token = httpx.post(f"{url}/auth", timeout=60, json={
            "user/id": "admin", "user/password": password}).raise_for_status().json()["token"]
        headers = {"Authorization": f"Token {token}"}
        client = httpx.Client(base_url=url, headers=headers, timeout=60)
        if agents:
            wait_until(lambda: len([a for a in client.get("/agents").raise_for_status().json()
                                    if a.get("agent/status") == "ready"]) >= agents,
                       60, interval=0.1, what="the agents")
        yield Bus(process, url, workdir, client, headers, started)
    finally:
        if client is not None:
            client.close()
        stop_all(*started, process)


def idle_cpu(pid: int, seconds: float) -> float:
    """Share of one core the process tree used over ``seconds`` of waiting."""
    before, start = cpu_seconds(pid), time.monotonic()
    wait_until(lambda: time.monotonic() - start >= seconds, seconds + 5, interval=0.25,
               what="the idle window")
    return (cpu_seconds(pid) - before) / (time.monotonic() - start)
