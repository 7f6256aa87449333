"""Shared helpers of the fault-injection tests (issue 8): real bus and agent processes, killed,
cut off and restarted; every figure a scenario reports is counted from files the batch
components append to and from the bus's API."""
from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import psutil

from jsbus.follow import FINAL
from jsbus.launch import LISTENING, Process, dev_join_token, wait_until
from tests.e2e import api

APP_DIR = Path(__file__).resolve().parent / "app"
APP = "faults"
COMPLETED = "batch-status/completed"

# A bus that notices a silent agent after 3 s and ticks often (a short lease: the agent's
# heartbeat interval is a third of it, from the bus's heartbeat answer).
FAST_BUS = {"JSBUS_AGENTS_LEASE": "3", "JSBUS_DISPATCH_INTERVAL": "0.2",
            "JSBUS_AGENTS_COMMAND_TIMEOUT": "3"}


def figures(scenario: str, **values) -> None:
    """Print a scenario's figures on one line (``pytest -s`` shows them)."""
    print(f"\n[faults] {scenario}: " + ", ".join(f"{k}={v}" for k, v in values.items()),
          flush=True)


def deploy(url: str, app: str = APP) -> None:
    response = api.post(f"{url}/apps", json={"name": app, "description": "fault injection",
                                               "classpath": [APP_DIR.as_uri()]}, timeout=10)
    assert response.status_code in (200, 201), response.text


def register(url: str, document: dict, app: str = APP) -> None:
    response = api.post(f"{url}/{app}/jobs", json=document, timeout=10)
    assert response.status_code in (200, 201), response.text


def chunk_job(job: str, out_dir: Path, count: int, pause: float, interval: int) -> dict:
    return {"id": job, "restartable": True, "steps": [{"id": "numbers", "chunk": {
        "reader": {"ref": "faults_batch.SlowNumbers",
                   "properties": {"count": str(count), "pause": str(pause)}},
        "writer": {"ref": "faults_batch.ExecutionLines", "properties": {"dir": str(out_dir)}},
        "item-count": interval}}]}


def mark_job(job: str, out_dir: Path, seconds: float = 0) -> dict:
    return {"id": job, "restartable": True, "steps": [{"id": "mark", "batchlet": {
        "ref": "faults_batch.Mark", "properties": {"dir": str(out_dir), "seconds": str(seconds)}}}]}


def submit(url: str, job: str, app: str = APP, timeout: float = 10) -> int | None:
    """Start an execution; its id on a 201, else None (a refused or unanswered request)."""
    try:
        response = api.post(f"{url}/{app}/job/{job}/executions", json={}, timeout=timeout)
    except Exception:  # the bus died under the request: no 201, so no promise was made
        return None
    if response.status_code != 201:
        return None
    return response.json()["job-execution/execution-id"]


def executions(url: str, job: str, app: str = APP) -> dict[int, dict]:
    """Every execution of ``job`` by id (paged through the API)."""
    found: dict[int, dict] = {}
    offset = 0
    while True:
        body = api.get(f"{url}/{app}/job/{job}/executions",
                       params={"offset": offset, "limit": 1000}, timeout=30).json()
        for execution in body["results"]:
            found[execution["job-execution/execution-id"]] = execution
        offset += len(body["results"])
        if not body["results"] or offset >= body["hits"]:
            return found


def status_of(execution: dict) -> str:
    return execution["job-execution/batch-status"]


def wait_final(url: str, job: str, ids, timeout: float, app: str = APP) -> dict[int, dict]:
    """Wait until every execution in ``ids`` is in a final status (TimeoutError names the
    ones that are not); answers every execution of the job."""
    ids = set(ids)
    latest: dict[int, dict] = {}

    def all_final():
        latest.clear()
        latest.update(executions(url, job, app))
        return all(i in latest and status_of(latest[i]) in FINAL for i in ids)
    try:
        wait_until(all_final, timeout, interval=0.5, what=f"{len(ids)} executions to end")
    except TimeoutError as error:
        pending = Counter(status_of(latest[i]) if i in latest else "missing"
                          for i in ids if i not in latest or status_of(latest[i]) not in FINAL)
        raise TimeoutError(f"{error}; not final: {dict(pending)}") from None
    return dict(latest)


def statuses(found: dict[int, dict], ids) -> Counter:
    return Counter(status_of(found[i]).removeprefix("batch-status/") if i in found else "missing"
                   for i in ids)


def count_lines(path: Path) -> Counter:
    """How often each execution id is the first word of a line of ``path``."""
    if not path.exists():
        return Counter()
    return Counter(int(line.split()[0]) for line in path.read_text().splitlines() if line)


def item_repeats(out_dir: Path, execution: int) -> tuple[set[int], int]:
    """The items ``execution`` wrote, and how many writes were repeats."""
    path = out_dir / f"{execution}.items"
    if not path.exists():
        return set(), 0
    items = Counter(int(line.split()[1]) for line in path.read_text().splitlines() if line)
    return set(items), sum(items.values()) - len(items)


def wait_for_agents(url: str, count: int, timeout: float = 30) -> list[dict]:
    def ready():
        agents = api.get(f"{url}/agents", timeout=10).json()
        ready_agents = [a for a in agents if a["agent/status"] == "ready"]
        return ready_agents if len(ready_agents) >= count else None
    return wait_until(ready, timeout, what=f"{count} ready agent(s)")


def role(url: str) -> str | None:
    try:
        return api.get(f"{url}/healthcheck", timeout=3).json().get("role")
    except Exception:
        return None


def kill9(process: Process) -> None:
    """SIGKILL the process itself (an agent's worker processes must notice on their own)."""
    process.popen.kill()
    process.popen.wait(10)


def kill9_tree(process: Process) -> None:
    """SIGKILL the process and every descendant at once, as when its machine dies (a bus is a
    gunicorn arbiter and its workers: killing the arbiter alone leaves a worker serving)."""
    try:
        tree = psutil.Process(process.popen.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        tree = []
    process.popen.kill()
    for child in tree:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    process.popen.wait(10)
    psutil.wait_procs(tree, timeout=10)


# --- network namespaces ---------------------------------------------------------------------

def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=10)


class Netns:
    """A network namespace joined to the host by a veth pair on a private /30:
    ``host_ip`` on the host side, ``ns_ip`` inside."""

    def __init__(self, name: str, subnet: str = "10.208.77"):
        self.name, self.host_if, self.ns_if = name, f"{name}-h", f"{name}-n"
        self.host_ip, self.ns_ip = f"{subnet}.1", f"{subnet}.2"

    def __enter__(self) -> "Netns":
        self.close()  # what an earlier, interrupted run left behind
        sh("ip", "netns", "add", self.name)
        try:
            sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            sh("ip", "link", "set", self.ns_if, "netns", self.name)
            sh("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
            sh("ip", "link", "set", self.host_if, "up")
            self.run("ip", "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_if)
            self.run("ip", "link", "set", self.ns_if, "up")
            self.run("ip", "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise
        return self

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return sh("ip", "netns", "exec", self.name, *argv, check=check)

    def cut(self) -> None:
        self.run("ip", "link", "set", self.ns_if, "down")

    def restore(self) -> None:
        self.run("ip", "link", "set", self.ns_if, "up")
        sh("ip", "link", "set", self.host_if, "up")

    def close(self) -> None:
        sh("ip", "link", "del", self.host_if, check=False)
        sh("ip", "netns", "del", self.name, check=False)

    def __exit__(self, *exc) -> None:
        self.close()


def start_agent_in(netns: Netns, workdir: Path, bus_url: str, *, name: str,
                   extra: list[str] = (), timeout: float = 30.0) -> tuple[Process, str]:
    """``jsagent`` inside ``netns`` (as ``jsbus.launch.start_agent`` builds it, bound to the
    namespace's address), joined to ``bus_url`` with the workdir's development join token."""
    agent_dir = workdir / name
    agent_dir.mkdir(parents=True, exist_ok=True)
    argv = ["ip", "netns", "exec", netns.name, sys.executable, "-m", "jsagent.cli",
            "--bind", f"{netns.ns_ip}:0", "--name", name, "--work-dir", str(agent_dir),
            "--bus", bus_url, "--no-discovery", *extra]
    process = Process(argv, workdir / f"{name}.log", {"JSAGENT_JOIN_TOKEN": dev_join_token(workdir)})
    match = process.wait_for_output(LISTENING, timeout)
    return process, match.group(1)


# --- PostgreSQL -----------------------------------------------------------------------------

def postgres_database(server: str):
    """A fresh database on the PostgreSQL server ``server`` (a context manager yielding its
    URL; dropped afterwards), as ``tests.databases.create_database`` makes them."""
    import contextlib
    import uuid

    import psycopg

    def admin(statement):
        with psycopg.connect(server, autocommit=True) as connection:
            connection.execute(statement)

    @contextlib.contextmanager
    def database():
        name = f"jsbus_f_{uuid.uuid4().hex[:12]}"
        admin(f'CREATE DATABASE "{name}"')
        try:
            yield server.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return database()


def slots(url: str, job: str, app: str = APP) -> list[dict]:
    """The fire-slot ledger of ``job``, every row."""
    rows: list[dict] = []
    while True:
        body = api.get(f"{url}/{app}/job/{job}/schedule/history",
                       params={"offset": len(rows), "limit": 1000}, timeout=30).json()
        rows.extend(body["results"])
        if not body["results"] or len(rows) >= body["hits"]:
            return rows
