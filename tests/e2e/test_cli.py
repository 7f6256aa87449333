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


def test_login_keeps_a_token_that_later_commands_use(running_bus, tmp_path):
    url = running_bus
    deploy(url)
    register(url, "NOP", ["e2e_batch.Count"])
    env = {key: value for key, value in os.environ.items()
           if key not in ("JSBUS_USER", "JSBUS_PASSWORD")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    refused = jsbus("run", "--bus", url, "e2e", "NOP", "--timeout", "1", env=env)
    assert refused.returncode == 1 and "not logged in" in refused.stderr
    wrong = jsbus("login", "--bus", url, "--password", "wrong-password", env=env)
    assert wrong.returncode == 1 and "Authentication failure." in wrong.stderr
    logged = jsbus("login", "--bus", url, "--password", os.environ["JSBUS_PASSWORD"], env=env)
    assert logged.returncode == 0, logged.stderr
    kept = tmp_path / "config" / "jsbus" / "tokens.json"
    assert kept.stat().st_mode & 0o777 == 0o600
    assert os.environ["JSBUS_PASSWORD"] not in kept.read_text(), "the token, not the password"
    started = jsbus("run", "--bus", url, "e2e", "NOP", "--timeout", "1", env=env)
    assert "not logged in" not in started.stderr and "401" not in started.stderr
    assert jsbus("logout", "--bus", url, env=env).returncode == 0
    again = jsbus("run", "--bus", url, "e2e", "NOP", "--timeout", "1", env=env)
    assert again.returncode == 1 and "not logged in" in again.stderr


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
