"""Start real bus and agent processes and wait until they answer: for ``jsbus demo``, the REPL
and the tests. Everything binds to loopback unless told otherwise; discovery is off unless
``discovery=True`` (zeroconf multicasts: only inside a private network namespace)."""
from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

LISTENING = re.compile(r"listening on (http://\S+)")
JOIN_TOKEN_FILE = "dev-join-token"


def dev_join_token(workdir: Path) -> str:
    """FOR DEVELOPMENT: the join token that the bus and the agents started in ``workdir`` share
    (``agents.bootstrap_join_token`` on the bus, ``agent.join_token`` on the agent), random,
    kept in ``<workdir>/dev-join-token`` (0600) so that every launcher of one workdir agrees."""
    path = Path(workdir) / JOIN_TOKEN_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class Process:
    """A child process whose stderr is kept (and echoed to ``echo`` when given)."""

    def __init__(self, argv: list[str], log_path: Path, env: dict | None = None):
        self.argv = argv
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.popen = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, pattern: re.Pattern, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = pattern.search(self.output())
            if match:
                return match
            if self.popen.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"{self.argv[:4]} did not print {pattern.pattern!r} "
                           f"(exit code {self.popen.poll()}):\n{self.output()[-3000:]}")

    def stop(self, timeout: float = 15.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout)
        self._log.close()
        return self.popen.returncode


def stop_all(*processes: Process | None) -> None:
    """Stop each process that was started (None: never started), first to last."""
    for process in processes:
        if process is not None:
            process.stop()


def wait_until(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; raise TimeoutError after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def start_bus(workdir: Path, *, port: int | None = None, database: str | None = None,
              discovery: bool = False, extra: list[str] = (), env: dict | None = None,
              timeout: float = 30.0, join_token: bool = True) -> tuple[Process, str]:
    """A ``jsbus serve`` on ``database`` (else ``JSBUS_DATABASE``, else a SQLite file in
    ``workdir``); ``join_token``: it accepts ``dev_join_token(workdir)`` (agents
    started by ``start_agent`` in the same workdir enroll without approval)."""
    port = port or free_port()
    if join_token:
        env = {"JSBUS_AGENTS_BOOTSTRAP_JOIN_TOKEN": dev_join_token(workdir), **(env or {})}
    database = database or os.environ.get("JSBUS_DATABASE") or f"sqlite:///{workdir / 'jsbus.db'}"
    argv = [sys.executable, "-m", "jsbus", "serve", "--bind", f"127.0.0.1:{port}",
            "--database", database, *([] if discovery else ["--no-discovery"]), *extra]
    process = Process(argv, workdir / f"bus-{port}.log", env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: process.popen.poll() is not None or http_ok(f"{url}/healthcheck"),
                   timeout, what=f"the bus at {url}")
    except TimeoutError:
        process.stop()
        raise
    if process.popen.poll() is not None:
        raise RuntimeError(f"the bus exited with {process.popen.returncode}:\n{process.output()}")
    return process, url


def start_agent(workdir: Path, bus_url: str | None, *, name: str = "agent-1",
                discovery: bool = False, extra: list[str] = (), env: dict | None = None,
                timeout: float = 30.0, join_token: bool = True) -> tuple[Process, str]:
    """A ``jsagent``; ``join_token``: it presents ``dev_join_token(workdir)`` (False: it stays
    pending until approved)."""
    if join_token:
        env = {"JSAGENT_JOIN_TOKEN": dev_join_token(workdir), **(env or {})}
    agent_dir = workdir / name
    agent_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "jsagent.cli", "--bind", "127.0.0.1:0", "--name", name,
            "--work-dir", str(agent_dir), *(["--bus", bus_url] if bus_url else []),
            *([] if discovery else ["--no-discovery"]), *extra]
    process = Process(argv, workdir / f"{name}.log", env)
    match = process.wait_for_output(LISTENING, timeout)
    return process, match.group(1)
