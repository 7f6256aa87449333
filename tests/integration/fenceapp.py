"""The application of the fencing and drain tests (``test_agent_fencing``, ``test_agent_drain``):
written to a directory of its own and put on the classpath, on real agents with a FakeBus."""
from __future__ import annotations

from pathlib import Path

import httpx

from jsbus.launch import wait_until
from tests.integration.realagent import Agent, command

FENCE_APP = '''
"""Batchlets of the fencing and drain tests."""
import os
import threading

from jsagent.api import Batchlet


class Ticker(Batchlet):
    """Says its pid, then prints a tick every 50 ms until stop() is called (or 60 s pass)."""

    def __init__(self):
        self.stopped = threading.Event()

    def process(self):
        print(f"ticking {os.getpid()}", flush=True)
        ticks = 0
        while not self.stopped.wait(0.05) and ticks < 1200:
            ticks += 1
            print(f"tick {ticks}", flush=True)
        return "STOPPED-TICKING" if self.stopped.is_set() else "TICKED"

    def stop(self):
        self.stopped.set()


class Hello(Batchlet):
    def process(self):
        print("hello", flush=True)
        return "HELLO"
'''


def write_fence_app(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "fenceapp_steps.py").write_text(FENCE_APP)
    return directory


def ticker(app: Path, execution_id: int, attempt: int = 1) -> dict:
    return command(app, execution_id, "fenceapp_steps.Ticker", attempt=attempt)


def hello(app: Path, execution_id: int, attempt: int = 1) -> dict:
    return command(app, execution_id, "fenceapp_steps.Hello", attempt=attempt)


def ticking_pid(agent: Agent, execution_id: int) -> int:
    """The pid of the worker running a Ticker (waits for its first line)."""
    return int(agent.message(execution_id, "ticking ").split()[1])


def heartbeat_after(agent: Agent, predicate, timeout: float = 20) -> dict:
    """The first heartbeat, among those that come after this call, that ``predicate`` accepts."""
    seen = len(agent.bus.heartbeats)
    return agent.bus.wait_for(
        lambda: next((h for h in agent.bus.heartbeats[seen:] if predicate(h)), None), timeout)


def post_until(agent: Agent, body: dict, status: int, timeout: float = 20) -> httpx.Response:
    """POST ``body`` to ``/executions`` until it is answered ``status``."""
    return wait_until(lambda: (lambda a: a if a.status_code == status else None)(
        agent.http.post("/executions", json=body)), timeout, interval=0.1,
        what=f"a start answered {status}")
