"""The command line as operators use it: ``jsbus run``, ``jsbus demo``, ``jsbus repl``."""
import os
import subprocess
import sys

import pytest

from tests.e2e.helpers import deploy, register, wait_for_agents

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def jsbus(*args, timeout=90, **kwargs):
    return subprocess.run([sys.executable, "-m", "jsbus", *args], capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def test_run_follows_the_execution_and_exits_by_its_status(running_bus, running_agent):
    url = running_bus
    wait_for_agents(url)
    deploy(url)
    register(url, "OK", ["e2e_batch.Greet", "e2e_batch.Count"])
    register(url, "KO", ["e2e_batch.Boom"])
    ok = jsbus("run", "--bus", url, "e2e", "OK", "--param", "day=monday")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "completed" in ok.stdout and "STEP-2" in ok.stdout
    ko = jsbus("run", "e2e", "KO", env={**os.environ, "JSBUS_BUS": url})
    assert ko.returncode == 1, ko.stdout + ko.stderr
    assert "failed" in ko.stdout and "RuntimeError" in ko.stdout
    missing = jsbus("run", "--bus", url, "e2e", "NOPE")
    assert missing.returncode == 1 and "404" in missing.stderr
    bad = jsbus("run", "--bus", url, "e2e", "OK", "--param", "novalue")
    assert bad.returncode == 2 and "NAME=VALUE" in bad.stderr


def test_run_against_no_bus_says_so():
    result = jsbus("run", "--bus", "http://127.0.0.1:9", "a", "b")
    assert result.returncode == 1 and "cannot reach the bus" in result.stderr


def test_demo_runs_the_example_end_to_end():
    result = jsbus("demo", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "completed" in result.stdout
    assert "Hello, jsbus" in result.stdout


def test_repl_go_halt_reset(tmp_path):
    script = "\n".join([
        "print(go())",
        "import httpx",
        "print('health', httpx.get(repl.system.url + '/healthcheck').json()['role'])",
        "print('storage', type(repl.system.storage).__name__)",
        "print(reset())",
        "print(halt())",
        "print(halt())",
    ]) + "\n"
    result = subprocess.run([sys.executable, "-m", "jsbus", "repl"], input=script,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "bus running at http://127.0.0.1:" in result.stdout
    assert "health leader" in result.stdout
    assert "reloaded nothing; bus running at" in result.stdout
    assert result.stdout.count("halted") == 1 and "not running" in result.stdout
