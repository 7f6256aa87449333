"""The built-in batchlets (shell, python-main, java-main) running real processes.

The batchlets are built directly in the test process (in production the worker child runs
them); one test runs them in a real worker to see their output become the step's log.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

import jsagent.batchlets
from jsagent.batchlets import JavaMainBatchlet, PythonMainBatchlet, ShellBatchlet
from jsagent.batchlets._process import CommandFailed, CommandTimeout
from tests.integration.workerrun import run_worker

FIXTURES = Path(__file__).parent / "batchlet_fixtures"
SHELL_LOGGER = "jsagent.batchlets.shell"
JAVA_LOGGER = "jsagent.batchlets.java_main"
needs_javac = pytest.mark.skipif(shutil.which("javac") is None or shutil.which("java") is None,
                                 reason="javac/java (a JDK) not found on PATH")


class LogWatch(logging.Handler):
    """Collects records of one logger; waits (with a deadline) for a matching message."""

    def __init__(self, name: str):
        super().__init__(logging.DEBUG)
        self.logger = logging.getLogger(name)
        self.records: list[logging.LogRecord] = []
        self._cond = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self._cond:
            self.records.append(record)
            self._cond.notify_all()

    def lines(self, level: int | None = None) -> list[str]:
        with self._cond:
            return [r.getMessage() for r in self.records if level is None or r.levelno == level]

    def wait_for(self, pattern: str, timeout: float = 15) -> re.Match:
        """The first match of ``pattern`` in a message; fails after ``timeout`` seconds."""
        regex = re.compile(pattern)
        found: list[re.Match] = []

        def matched() -> bool:
            found[:] = [m for r in self.records if (m := regex.search(r.getMessage()))]
            return bool(found)

        with self._cond:
            assert self._cond.wait_for(matched, timeout), (
                f"no log line matching {pattern!r} in {timeout} s: {self.lines()}")
        return found[0]


@pytest.fixture
def watch():
    """``watch(logger_name)`` -> a LogWatch attached at DEBUG for the test."""
    watches: list[LogWatch] = []

    def attach(name: str) -> LogWatch:
        handler = LogWatch(name)
        handler.saved_level = handler.logger.level
        handler.logger.setLevel(logging.DEBUG)
        handler.logger.addHandler(handler)
        watches.append(handler)
        return handler

    yield attach
    for handler in watches:
        handler.logger.removeHandler(handler)
        handler.logger.setLevel(handler.saved_level)


@pytest.fixture
def fixtures_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    for name in ("bfx_mains", "bfx_cli"):
        monkeypatch.delitem(sys.modules, name, raising=False)


def make(cls, **properties):
    """A batchlet with ``properties`` set as attributes, as the worker does."""
    batchlet = cls()
    batchlet.job_parameters = {}
    for name, value in properties.items():
        setattr(batchlet, name, value)
    return batchlet


class Background:
    """``batchlet.process()`` on a thread of its own; ``result()`` waits with a deadline."""

    def __init__(self, batchlet):
        self.batchlet = batchlet
        self.outcome: dict = {}
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.outcome["value"] = self.batchlet.process()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self.outcome["error"] = exc

    def result(self, timeout: float):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"process() still running after {timeout} s"
        if "error" in self.outcome:
            raise self.outcome["error"]
        return self.outcome["value"]


def assert_group_gone(pgid: int) -> None:
    """No process is left in the group (the leader was reaped by the batchlet)."""
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)


def live_members(pgid: int) -> list[int]:
    """Pids of the group's processes that are not zombies (psutil)."""
    members = []
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(process.pid)
        except (ProcessLookupError, PermissionError, psutil.Error):
            pass
    return members


# --- registration ----------------------------------------------------------------------------

def test_package_exports_the_three_batchlets_with_documented_properties():
    assert jsagent.batchlets.ShellBatchlet is ShellBatchlet
    for cls, properties in [(ShellBatchlet, ["command", "args", "env", "cwd", "timeout",
                                             "shell", "fail_on_error"]),
                            (PythonMainBatchlet, ["main", "args", "stop_event="]),
                            (JavaMainBatchlet, ["main_class", "classpath", "args", "java",
                                                "jvm_options"])]:
        for name in properties:
            assert f"``{name}``" in cls.__doc__, (cls.__name__, name)
    for name in ("shell", "python-main", "java-main"):
        assert f"``{name}``" in jsagent.batchlets.__doc__


# --- shell -----------------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_shell_echo_with_args_logs_the_lines_and_returns_0(watch):
    log = watch(SHELL_LOGGER)
    batchlet = make(ShellBatchlet, command="echo hello", args="'big world' again")
    assert batchlet.process() == "0"
    assert log.lines(logging.INFO) == ["hello big world again"]


@pytest.mark.timeout(60)
def test_shell_exit_code_is_the_exit_status_and_stderr_is_a_warning(watch):
    log = watch(SHELL_LOGGER)
    batchlet = make(ShellBatchlet, command="echo to-out; echo to-err >&2; exit 3", shell="true")
    assert batchlet.process() == "3"
    assert log.lines(logging.INFO) == ["to-out"]
    assert log.lines(logging.WARNING) == ["to-err"]


@pytest.mark.timeout(60)
def test_shell_fail_on_error_raises():
    batchlet = make(ShellBatchlet, command=["sh", "-c", "exit 3"], fail_on_error="true")
    with pytest.raises(CommandFailed, match="exited with 3"):
        batchlet.process()
    assert make(ShellBatchlet, command="true", fail_on_error="true").process() == "0"


@pytest.mark.timeout(60)
def test_shell_json_list_command_keeps_spaces_and_quotes(watch):
    log = watch(SHELL_LOGGER)
    batchlet = make(ShellBatchlet, command=json.dumps(["printf", "%s|%s\\n", "a b", "it's"]),
                    args='["c  d", "e"]')
    assert batchlet.process() == "0"
    assert log.lines(logging.INFO) == ["a b|it's", "c  d|e"]


@pytest.mark.timeout(60)
def test_shell_env_and_cwd_are_honoured(watch, tmp_path, monkeypatch):
    monkeypatch.setenv("BFX_DROPPED", "present")
    monkeypatch.setenv("BFX_KEPT", "kept")
    log = watch(SHELL_LOGGER)
    script = 'echo "$BFX_GREETING"; echo "${BFX_DROPPED-unset}"; echo "$BFX_KEPT"; pwd -P'
    batchlet = make(ShellBatchlet, command=json.dumps(["sh", "-c", script]), cwd=str(tmp_path),
                    env=json.dumps({"BFX_GREETING": "hi there", "BFX_DROPPED": None}))
    assert batchlet.process() == "0"
    assert log.lines(logging.INFO) == ["hi there", "unset", "kept", os.path.realpath(tmp_path)]


@pytest.mark.timeout(60)
def test_shell_timeout_fails_the_step_and_terminates_the_group(watch):
    log = watch(SHELL_LOGGER)
    batchlet = make(ShellBatchlet, command="echo ready $$; exec sleep 30", shell="true",
                    timeout="0.5")
    started = time.monotonic()
    with pytest.raises(CommandTimeout, match=r"shell: command timed out after 0\.5 s"):
        batchlet.process()
    assert time.monotonic() - started < 10
    assert_group_gone(int(log.wait_for(r"ready (\d+)").group(1)))


@pytest.mark.timeout(60)
def test_shell_stop_from_another_thread_terminates_the_process_group(watch):
    log = watch(SHELL_LOGGER)
    batchlet = make(ShellBatchlet, command='["sh", "-c", "echo ready $$; exec sleep 30"]')
    run = Background(batchlet)
    pgid = int(log.wait_for(r"ready (\d+)").group(1))
    assert live_members(pgid) == [pgid]  # sh, then sleep after the exec: same process
    stopped_at = time.monotonic()
    batchlet.stop()
    assert run.result(timeout=10) == "STOPPED"
    assert time.monotonic() - stopped_at < 4  # SIGTERM worked: no wait for the SIGKILL grace
    assert_group_gone(pgid)


@pytest.mark.timeout(60)
def test_shell_stop_kills_a_group_that_ignores_sigterm(watch):
    log = watch(SHELL_LOGGER)
    batchlet = make(ShellBatchlet, command="trap '' TERM; echo ready $$; sleep 30; echo late",
                    shell="true", kill_grace="0.5")
    run = Background(batchlet)
    pgid = int(log.wait_for(r"ready (\d+)").group(1))
    batchlet.stop()
    assert run.result(timeout=15) == "STOPPED"
    assert live_members(pgid) == []  # the orphaned sleep is killed (init reaps it)
    assert "late" not in log.lines()
    assert any("killed" in line for line in log.lines(logging.WARNING))


@pytest.mark.timeout(60)
def test_shell_stop_before_process_does_not_start_the_command(tmp_path):
    marker = tmp_path / "ran"
    batchlet = make(ShellBatchlet, command=["touch", str(marker)])
    batchlet.stop()
    assert batchlet.process() == "STOPPED"
    assert not marker.exists()


@pytest.mark.timeout(60)
def test_shell_processes_left_in_the_group_are_terminated_when_the_command_exits(watch):
    log = watch(SHELL_LOGGER)
    batchlet = make(ShellBatchlet, command="sleep 30 & echo child $!; echo pgid $$",
                    shell="true")
    assert batchlet.process() == "0"
    pgid = int(log.wait_for(r"pgid (\d+)").group(1))
    assert live_members(pgid) == []
    assert any("leaving processes" in line for line in log.lines(logging.WARNING))


@pytest.mark.timeout(60)
def test_shell_property_errors():
    with pytest.raises(ValueError, match=r"^shell: property 'command' is required$"):
        make(ShellBatchlet).process()
    with pytest.raises(ValueError, match="shell: property 'command' is required"):
        make(ShellBatchlet, command="  ").process()
    with pytest.raises(ValueError, match="property 'timeout'"):
        make(ShellBatchlet, command="true", timeout="soon").process()
    with pytest.raises(ValueError, match="property 'env'"):
        make(ShellBatchlet, command="true", env="[1]").process()
    with pytest.raises(FileNotFoundError):
        make(ShellBatchlet, command="bfx-no-such-program-here").process()


# --- python-main -----------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_python_main_function_return_value_is_the_exit_status(fixtures_on_path, capsys,
                                                             watch):
    log = watch("bfx")
    saved_argv = list(sys.argv)
    batchlet = make(PythonMainBatchlet, main="bfx_mains:count", args="one 'two three'")
    assert batchlet.process() == "COUNTED-2"
    assert "args: one two three" in capsys.readouterr().out
    assert log.lines() == ["sys.argv[1:] = ['one', 'two three']"]
    assert sys.argv == saved_argv
    assert make(PythonMainBatchlet, main="bfx_mains:no_args", args='["x"]').process() \
        == "COMPLETED"
    assert log.lines()[-1] == "no args, sys.argv[1:] = ['x']"


@pytest.mark.timeout(60)
def test_python_main_system_exit_code_is_the_exit_status(fixtures_on_path, watch):
    assert make(PythonMainBatchlet, main="bfx_mains:bail").process() == "4"
    log = watch("jsagent.batchlets.python_main")
    assert make(PythonMainBatchlet, main="bfx_mains:bail_with_message").process() == "1"
    assert log.lines(logging.ERROR) == ["something went wrong"]


@pytest.mark.timeout(60)
def test_python_main_runs_a_module_as_main(fixtures_on_path, capsys, watch):
    log = watch("bfx")
    assert make(PythonMainBatchlet, main="bfx_cli").process() == "COMPLETED"
    assert "running as __main__ with []" in capsys.readouterr().out
    assert log.lines() == ["argv[0] ends with bfx_cli.py"]
    assert make(PythonMainBatchlet, main="bfx_cli", args="7").process() == "7"
    assert "running as __main__ with ['7']" in capsys.readouterr().out
    assert make(PythonMainBatchlet, main="bfx_cli", args="0").process() == "0"


@pytest.mark.timeout(60)
def test_python_main_stop_sets_the_stop_event(fixtures_on_path, watch):
    log = watch("bfx")
    batchlet = make(PythonMainBatchlet, main="bfx_mains:wait_for_stop")
    run = Background(batchlet)
    log.wait_for("waiting for stop")
    batchlet.stop()
    assert run.result(timeout=10) == "STOPPED"
    assert log.lines()[-1] == "stop event set: True"


@pytest.mark.timeout(60)
def test_python_main_property_errors(fixtures_on_path):
    with pytest.raises(ValueError, match="python-main: property 'main' is required"):
        make(PythonMainBatchlet).process()
    with pytest.raises(ValueError, match="must be 'package.module:function'"):
        make(PythonMainBatchlet, main="bfx_mains:").process()
    with pytest.raises(ModuleNotFoundError):
        make(PythonMainBatchlet, main="bfx_no_such_module:main").process()
    with pytest.raises(AttributeError):
        make(PythonMainBatchlet, main="bfx_mains:missing").process()


# --- java-main -------------------------------------------------------------------------------

JAVA_MAIN = """
public class Main {
    public static void main(String[] args) throws Exception {
        System.out.println("hello from java " + String.join(",", args)
                           + " greeting=" + System.getProperty("greeting"));
        System.err.println("warning from java");
        if (args.length > 0 && args[0].equals("wait")) {
            System.out.println("ready " + ProcessHandle.current().pid());
            Thread.sleep(30000);
            System.out.println("late");
        }
        System.exit(10);
    }
}
"""


@pytest.fixture(scope="module")
def java_classes(tmp_path_factory):
    """A directory with ``Main.class`` compiled by javac from ``JAVA_MAIN``."""
    source_dir = tmp_path_factory.mktemp("java-src")
    classes = tmp_path_factory.mktemp("java-classes")
    (source_dir / "Main.java").write_text(JAVA_MAIN)
    subprocess.run(["javac", "-d", str(classes), str(source_dir / "Main.java")], check=True,
                   timeout=50, capture_output=True)
    assert (classes / "Main.class").is_file()
    return classes


@needs_javac
@pytest.mark.timeout(60)
def test_java_main_system_exit_code_is_the_exit_status(java_classes, watch):
    log = watch(JAVA_LOGGER)
    batchlet = make(JavaMainBatchlet, main_class="Main", classpath=str(java_classes),
                    args="a 'b c'")
    assert batchlet.process() == "10"
    assert log.lines(logging.INFO) == ["hello from java a,b c greeting=null"]
    assert log.lines(logging.WARNING) == ["warning from java"]


@needs_javac
@pytest.mark.timeout(60)
def test_java_main_classpath_list_jvm_options_and_default_classpath(java_classes, watch):
    log = watch(JAVA_LOGGER)
    batchlet = make(JavaMainBatchlet, main_class="Main", jvm_options="-Dgreeting=hi -Xmx64m",
                    classpath=json.dumps(["/bfx/not/there", java_classes.as_uri()]),
                    java=shutil.which("java"))
    assert batchlet.process() == "10"
    assert log.lines(logging.INFO) == ["hello from java  greeting=hi"]
    by_cwd = make(JavaMainBatchlet, main_class="Main", cwd=str(java_classes), args='["x"]')
    assert by_cwd.process() == "10"
    assert log.lines(logging.INFO)[-1] == "hello from java x greeting=null"


@needs_javac
@pytest.mark.timeout(60)
def test_java_main_stop_terminates_the_jvm(java_classes, watch):
    log = watch(JAVA_LOGGER)
    batchlet = make(JavaMainBatchlet, main_class="Main", classpath=str(java_classes),
                    args="wait")
    run = Background(batchlet)
    pgid = int(log.wait_for(r"ready (\d+)", timeout=30).group(1))
    batchlet.stop()
    assert run.result(timeout=15) == "STOPPED"
    assert_group_gone(pgid)
    assert "late" not in log.lines()


@needs_javac
@pytest.mark.timeout(60)
def test_java_main_defaults_to_the_java_entries_of_the_application(java_classes, watch,
                                                                   tmp_path, monkeypatch):
    from jsagent.worker import JAVA_CLASSPATH_ENV, java_entries
    jar = tmp_path / "main.jar"
    subprocess.run(["jar", "cf", str(jar), "-C", str(java_classes), "Main.class"], check=True,
                   timeout=50, capture_output=True)
    classpath = [(tmp_path / "python_dir").as_uri(), jar.as_uri(), "sha256:ab/x.whl"]
    (tmp_path / "python_dir").mkdir()
    assert java_entries(classpath) == [str(tmp_path / "python_dir"), str(jar)]
    monkeypatch.setenv(JAVA_CLASSPATH_ENV, os.pathsep.join(java_entries(classpath)))
    log = watch(JAVA_LOGGER)
    assert make(JavaMainBatchlet, main_class="Main").process() == "10"
    assert log.lines(logging.INFO) == ["hello from java  greeting=null"]


@pytest.mark.timeout(60)
def test_java_main_property_errors(tmp_path):
    with pytest.raises(ValueError, match="java-main: property 'main_class' is required"):
        make(JavaMainBatchlet).process()
    with pytest.raises(FileNotFoundError, match="no java executable"):
        make(JavaMainBatchlet, main_class="Main", env=json.dumps(
            {"JAVA_HOME": None, "PATH": str(tmp_path)})).process()
    with pytest.raises(ValueError, match="property 'classpath'"):
        make(JavaMainBatchlet, main_class="Main",
             classpath='["http://example.com/x.jar"]').process()


# --- in a real worker ------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_in_a_worker_the_output_is_the_step_log_and_the_exit_code_its_exit_status():
    steps = [{"id": "SHELL", "batchlet": {"ref": "jsagent.batchlets:ShellBatchlet", "properties": {
                 "command": "echo from-shell; echo shell-err >&2; exit 3", "shell": "true"}}},
             {"id": "PY", "batchlet": {"ref": "jsagent.batchlets:PythonMainBatchlet",
                                       "properties": {"main": "bfx_mains:count", "args": "a b"}}}]
    command = {"execution-id": 9, "app": "demo", "job": "JOB-B",
               "document": {"id": "JOB-B", "properties": {}, "steps": steps},
               "parameters": {}, "classpath": [FIXTURES.as_uri()], "builtins": ["shell"]}
    events, proc = run_worker(command)
    assert proc.returncode == 0
    ended = {e["step"]: e for e in events if e["type"] == "step-ended"}
    assert (ended["SHELL"]["status"], ended["SHELL"]["exit-status"]) == ("completed", "3")
    assert (ended["PY"]["status"], ended["PY"]["exit-status"]) == ("completed", "COUNTED-2")
    logs = [(e["step"], e["level"], e["logger"], e["message"]) for e in events
            if e["type"] == "log"]
    assert ("SHELL", "INFO", SHELL_LOGGER, "from-shell") in logs
    assert ("SHELL", "WARNING", SHELL_LOGGER, "shell-err") in logs
    assert ("PY", "INFO", "stdout", "args: a b") in logs


@pytest.mark.timeout(60)
def test_a_worker_runs_nothing_when_an_artifact_was_not_fetched():
    steps = [{"id": "S", "batchlet": {"ref": "jsagent.batchlets:ShellBatchlet", "properties": {
        "command": "echo should-not-run"}}}]
    command = {"execution-id": 10, "app": "demo", "job": "JOB-A",
               "document": {"id": "JOB-A", "properties": {}, "steps": steps},
               "parameters": {}, "classpath": [f"sha256:{'e' * 64}/app.whl"]}
    events, proc = run_worker(command)
    assert proc.returncode == 0
    final = [e for e in events if e["type"] == "execution"][-1]
    assert final["status"] == "failed" and "could not be fetched" in final["exit-status"]
    assert not [e for e in events if e["type"] == "step-started"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("ref", ["shell", "jsagent.batchlets:ShellBatchlet",
                                 "jsagent.batchlets.shell.ShellBatchlet", "java-main"])
def test_a_worker_refuses_a_restricted_builtin_its_start_command_does_not_enable(ref, tmp_path):
    marker = tmp_path / "ran"
    steps = [{"id": "S", "batchlet": {"ref": ref, "properties": {
        "command": f"touch {marker}", "main_class": "Nope"}}}]
    command = {"execution-id": 11, "app": "demo", "job": "JOB-R",
               "document": {"id": "JOB-R", "properties": {}, "steps": steps},
               "parameters": {}, "classpath": [], "builtins": ["python-main"]}
    events, proc = run_worker(command)
    assert proc.returncode == 0
    ended = {e["step"]: e for e in events if e["type"] == "step-ended"}
    assert ended["S"]["status"] == "failed"
    messages = " ".join(str(e.get("message")) + str(e.get("exception"))
                        for e in events if e["type"] == "log")
    assert "has not enabled" in messages, messages
    assert not marker.exists()
