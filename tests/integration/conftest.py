"""Fixtures of the engine semantics tests (``test_engine_*.py``): each test that runs a job
takes ``run_job`` and so runs twice, on the real worker child alone (``[worker]``) and on a real
agent process reporting to a FakeBus (``[agent]``)."""
from __future__ import annotations

from typing import Callable

import pytest

from tests.integration.engine_app.harness import EngineAgent, Run, run_worker


class JobRunner:
    """``run_job(body, timeout=25, stop_when=None) -> Run``; ``mode`` is worker or agent;
    ``agent`` is the EngineAgent in agent mode. (The timeout is below the tests' 30 s
    pytest-timeout so that the harness reports what it saw.)

    ``stop_when(event)``: the first event it accepts stops the job, as the agent does it
    (worker: SIGTERM to the worker; agent: ``PUT /executions/{id}/stop``).
    """

    def __init__(self, mode: str, run: Callable[..., Run], agent: EngineAgent | None = None):
        self.mode, self._run, self.agent = mode, run, agent

    def __call__(self, body: dict, timeout: float = 25,
                 stop_when: Callable[[dict], bool] | None = None) -> Run:
        return self._run(body, timeout=timeout, stop_when=stop_when)

    def __repr__(self) -> str:
        return f"<run_job on the {self.mode}>"


@pytest.fixture(scope="session")
def engine_agent(tmp_path_factory):
    """One real agent (and its FakeBus) for every agent-mode semantics test of the session."""
    agent = EngineAgent(tmp_path_factory.mktemp("engine-agent"))
    try:
        yield agent
    finally:
        code = agent.close()
    assert code == 0, agent.log()


@pytest.fixture(params=["worker", "agent"])
def run_job(request) -> JobRunner:
    if request.param == "worker":
        return JobRunner("worker", run_worker)
    agent = request.getfixturevalue("engine_agent")
    return JobRunner("agent", agent.run, agent)
