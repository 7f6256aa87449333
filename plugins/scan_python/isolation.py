"""Runs the scanner's child process (``child.py``) and turns what it streams into a ScanResult.

Application code runs only in the child: a fresh interpreter in isolated mode (``-I``: no
PYTHONPATH, no user site, not the script's directory on sys.path; ``-B``: no bytecode written
into the application's directories), in its own session, with a temporary working and home
directory, a minimal environment and stdin from /dev/null. The child reports each module as
it goes, so what was found before a hang or a crash is kept:

* a module that crashes the interpreter (``os._exit``, a segfault) is reported, and a new child
  goes on without it (at most ``MAX_RESTARTS`` times);
* a module still importing after ``module_timeout`` is reported as hanging, its child is
  killed, and a new child goes on without it;
* when ``timeout`` (the whole scan, restarts included) runs out, the child is killed and the
  module it was importing is named.

The child's whole process group is killed whenever it is left, so no process the application
started survives the scan.
"""
from __future__ import annotations

import importlib.util
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from jsbus.backends import COMPONENT_KINDS, BatchComponent, ScanResult
from jsbus_plugins.scan_python.entries import PythonEntry, python_entries

TIMEOUT = 60.0  # seconds for a whole scan, restarts included
MODULE_TIMEOUT = 20.0  # seconds one module may take to import before it counts as hanging
MAX_MODULES = 5000  # modules imported per scan at most
MAX_RESTARTS = 5  # new children after crashes or hangs
POLL = 0.5  # seconds between checks that the child still runs
CHILD = Path(__file__).with_name("child.py")
LANGUAGE = "python"


@dataclass
class Findings:
    """What the children reported, across restarts."""

    entries: list[PythonEntry]
    problems: list[str] = field(default_factory=list)
    modules: dict[tuple[int, str], list[dict]] = field(default_factory=dict)
    skip: list[tuple[int, str]] = field(default_factory=list)
    importing: tuple[int, str] | None = None  # the module being imported, since ``since``
    since: float = 0.0
    finished: bool = False
    truncated: int = 0

    def take(self, message: dict[str, Any], now: float) -> None:
        entry = message.get("entry")
        if "importing" in message:
            self.importing, self.since = (entry, message["importing"]), now
        elif "module" in message:
            key = (entry, message["module"])
            self.importing = None
            if key not in self.modules:
                self.modules[key] = message.get("components") or []
                for problem in message.get("problems") or ():
                    self.add(f"{self.module_label(key)}: {problem}")
        elif "problem" in message:
            where = f"entry {self.entries[entry].label}: " if entry is not None else ""
            self.add(where + str(message["problem"]))
        elif "truncated" in message:
            self.truncated = int(message["truncated"])
        elif message.get("done"):
            self.finished = True

    def add(self, problem: str) -> None:
        if problem not in self.problems:  # a new child repeats what the last one said
            self.problems.append(problem)

    def module_label(self, key: tuple[int, str]) -> str:
        return f"module {key[1]} (in {self.entries[key[0]].label})"

    def result(self) -> ScanResult:
        problems = list(self.problems)
        if self.truncated:
            problems.append(f"the scan stopped after {self.truncated} modules; "
                            f"the others were not scanned")
        components = [
            BatchComponent(kind=found["kind"], ref=found["ref"], class_name=found["class_name"],
                           language=LANGUAGE, entry=self.entries[index].label)
            for (index, _), listed in sorted(self.modules.items(), key=lambda item: item[0][0])
            for found in listed if found.get("kind") in COMPONENT_KINDS]
        return ScanResult(components=tuple(components), problems=tuple(problems))


@dataclass(frozen=True)
class Limits:
    timeout: float
    module_timeout: float
    max_modules: int
    clock: Callable[[], float]
    deadline: float


def scan_entries(entries: Iterable[Path | str], *, timeout: float = TIMEOUT,
                 module_timeout: float = MODULE_TIMEOUT, max_modules: int = MAX_MODULES,
                 clock: Callable[[], float] = time.monotonic) -> ScanResult:
    """Find the batch components of the Python ``entries``, importing them in child processes."""
    readable, problems = python_entries(entries)
    findings = Findings(entries=readable, problems=problems)
    if not readable:
        return findings.result()
    limits = Limits(timeout, module_timeout, max_modules, clock, clock() + timeout)
    with tempfile.TemporaryDirectory(prefix="jsbus-scan-python-",
                                     ignore_cleanup_errors=True) as workdir:
        for _ in range(MAX_RESTARTS + 1):
            outcome = ChildRun(findings, limits, workdir).run()
            if findings.finished or not _after(outcome, findings, limits):
                break
        else:
            findings.add(f"the scan stopped after {MAX_RESTARTS} restarts of its child "
                         f"process; the modules after the last one named were not scanned")
    return findings.result()


def _after(outcome: str, findings: Findings, limits: Limits) -> bool:
    """Record why a child ended early; True when a new child should go on."""
    key, findings.importing = findings.importing, None
    out_of_time = f"the scan's time limit of {limits.timeout:g} s ran out"
    if key is None:
        cause = out_of_time if outcome == "ran out of time" else (
            f"the scanner's child process {outcome}")
        findings.add(f"{cause}; the scan is incomplete")
        return False
    label = findings.module_label(key)
    if outcome == "ran out of time":
        findings.add(f"{label}: {out_of_time} while importing it; the modules after it were "
                     f"not scanned")
        return False
    if outcome == "hung":
        findings.add(f"{label}: still importing after {limits.module_timeout:g} s; the child "
                     f"process was killed")
    else:
        findings.add(f"{label}: the interpreter {outcome} while importing it")
    findings.skip.append(key)
    if limits.clock() >= limits.deadline:
        findings.add(f"{out_of_time}; the modules after {key[1]} were not scanned")
        return False
    return True


class ChildRun:
    """One child process: started, followed line by line, and never left running."""

    def __init__(self, findings: Findings, limits: Limits, workdir: str):
        self.findings = findings
        self.limits = limits
        self.workdir = workdir
        self.buffer = b""

    def run(self) -> str:
        """How the child ended: "finished", "hung", "ran out of time", "exited with code N"
        or "was killed by signal S"."""
        try:
            process = self.start()
        except OSError as exc:
            return f"could not start ({exc})"
        try:
            return self.follow(process)
        finally:
            _kill(process)

    def start(self) -> subprocess.Popen:
        request = Path(self.workdir, "request.json")
        request.write_text(json.dumps(self.request()), encoding="utf-8")
        return subprocess.Popen(
            [sys.executable, "-I", "-B", "-X", "utf8", str(CHILD), str(request)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            cwd=self.workdir, env=_child_environment(self.workdir), start_new_session=True)

    def request(self) -> dict[str, Any]:
        spec = importlib.util.find_spec("jsagent")  # finds the package without importing it
        locations = list(spec.submodule_search_locations or ()) if spec else []
        return {"entries": [[entry.kind, entry.path] for entry in self.findings.entries],
                "skip": self.findings.skip, "done": list(self.findings.modules),
                "max_modules": self.limits.max_modules,
                "api_package": locations[0] if locations else None}

    def follow(self, process: subprocess.Popen) -> str:
        fd = process.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while not self.findings.finished:
                late = self.late()
                if late:
                    return late
                if selector.select(min(self.wait(), POLL)):
                    if not self.read(fd):
                        break
                elif process.poll() is not None:
                    while selector.select(0) and self.read(fd):
                        pass  # what the child wrote just before it exited
                    break
        if self.findings.finished:
            return "finished"
        try:
            return _exit_description(process.wait(timeout=max(self.wait(), POLL)))
        except subprocess.TimeoutExpired:
            return self.late() or "closed its output"

    def late(self) -> str | None:
        now = self.limits.clock()
        if now >= self.limits.deadline:
            return "ran out of time"
        if (self.findings.importing is not None
                and now - self.findings.since >= self.limits.module_timeout):
            return "hung"
        return None

    def wait(self) -> float:
        """Seconds until the next limit."""
        now = self.limits.clock()
        ends = [self.limits.deadline]
        if self.findings.importing is not None:
            ends.append(self.findings.since + self.limits.module_timeout)
        return max(0.0, min(ends) - now)

    def read(self, fd: int) -> bool:
        """Take the lines that arrived; False at the end of the stream."""
        chunk = os.read(fd, 65536)
        if not chunk:
            return False
        *lines, self.buffer = (self.buffer + chunk).split(b"\n")
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:
                continue  # only the child writes here; a broken line is dropped, not trusted
            if isinstance(message, dict):
                self.findings.take(message, self.limits.clock())
        return True


def _child_environment(workdir: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", os.defpath), "HOME": workdir, "TMPDIR": workdir,
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def _exit_description(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _kill(process: subprocess.Popen) -> None:
    """Kill the child's session, grandchildren included, and reap the child."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()
    process.stdout.close()
