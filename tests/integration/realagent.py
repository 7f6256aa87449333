"""A real ``jsagent`` process (``jsbus.launch.start_agent``, discovery off) reporting to a
FakeBus of its own, and the start commands of the zygote and worker-pool tests."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import httpx
import psutil

from jsbus.launch import start_agent, wait_until
from tests.integration.fakebus import FakeBus


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def command(app_dir: Path, execution_id: int, *refs: str, not_before: str | None = None,
            properties: dict | None = None, **extra) -> dict:
    steps = [{"id": f"STEP-{n}", "batchlet": {"ref": ref, "properties": properties or {}}}
             for n, ref in enumerate(refs, start=1)]
    body = {"execution-id": execution_id, "app": "zyg", "job": "JOB",
            "document": {"id": "JOB", "steps": steps}, "parameters": {"name": "zygote"},
            "classpath": [app_dir.as_uri()], **extra}
    if not_before is not None:
        body["not-before"] = not_before
    return body


class Agent:
    """A real agent process (zygote on unless ``zygote=False``) reporting to its own FakeBus."""

    def __init__(self, work: Path, name: str, zygote: bool = True, stop_grace: float = 1.0,
                 **settings: str):
        """``settings``: more environment of the agent (``JSAGENT_WORKER_REUSE="1"``)."""
        self.bus = FakeBus()
        env = {"JSAGENT_ZYGOTE": "1" if zygote else "0", "JSAGENT_STOP_GRACE": str(stop_grace),
               "JSAGENT_DRAIN_GRACE": "0",
               "JSAGENT_HEARTBEAT_INTERVAL": "1", **settings}
        try:
            self.process, self.url = start_agent(work, self.bus.url, name=name, env=env)
        except BaseException:
            self.bus.close()
            raise
        self.pid = self.process.popen.pid
        self.bus.wait_enrolled()  # commands must be signed by the bus the agent enrolled with
        self.http = httpx.Client(base_url=self.url, timeout=10, trust_env=False,
                                 auth=self.bus.auth())

    def zygote(self) -> psutil.Process | None:
        """The agent's zygote process now, if there is one."""
        for child in psutil.Process(self.pid).children():
            try:
                if "jsagent.zygote" in child.cmdline() and child.status() != "zombie":
                    return child
            except psutil.Error:
                pass
        return None

    def start(self, body: dict) -> None:
        answer = self.http.post("/executions", json=body)
        assert answer.status_code == 202, answer.text

    def run(self, body: dict, timeout: float = 30) -> list[dict]:
        """Run ``body`` to its end; its events (seq order, without seq)."""
        self.start(body)
        self.bus.final_event(body["execution-id"], timeout)
        return self.events(body["execution-id"])

    def events(self, execution_id: int) -> list[dict]:
        return [{k: v for k, v in e.items() if k != "seq"}
                for e in self.bus.execution_events(execution_id)]

    def stop(self, execution_id: int) -> None:
        assert self.http.put(f"/executions/{execution_id}/stop").status_code == 202

    def message(self, execution_id: int, prefix: str, timeout: float = 30) -> str:
        """The first log message of the execution starting with ``prefix`` (waits for it)."""
        return wait_until(lambda: next(
            (e["message"] for e in self.bus.execution_events(execution_id)
             if e["type"] == "log" and e["message"].startswith(prefix)), None), timeout,
            interval=0.01, what=f"a log line {prefix!r} of execution {execution_id}")

    def where(self, execution_id: int) -> dict:
        _, pid, ppid, sid, started = self.message(execution_id, "where ").split()
        return {"pid": int(pid), "ppid": int(ppid), "sid": int(sid), "time": float(started)}

    def log(self) -> str:
        return self.process.output()

    def close(self) -> int:
        try:
            self.http.close()
            return self.process.stop()
        finally:
            self.bus.close()


POOL_APP = '''
"""Batchlets of the worker-pool tests; two directories hold this module, named by APP."""
import os
import subprocess
import threading

from jsagent.api import Batchlet

APP = {name!r}


class Where(Batchlet):
    """Says which worker runs it, for which application, where and with what environment."""

    def process(self):
        print(f"where {{os.getpid()}} {{APP}} {{os.getcwd()}} "
              f"{{os.environ.get('POOL_MARK', '-')}}", flush=True)
        return "HERE"


class Meddle(Batchlet):
    """Changes the working directory and the environment, and leaves them so."""

    def process(self):
        os.chdir("/")
        os.environ["POOL_MARK"] = "dirty"
        return "MEDDLED"


class LeaveThread(Batchlet):
    """Leaves a non-daemon thread running."""

    def process(self):
        print(f"leaving {{os.getpid()}}", flush=True)
        threading.Thread(target=threading.Event().wait, args=(30,), name="left-behind").start()
        return "LEFT"


class LeaveChild(Batchlet):
    """Leaves a child process running."""

    def process(self):
        child = subprocess.Popen(["sleep", "30"])
        print(f"leaving {{os.getpid()}} child {{child.pid}}", flush=True)
        return "LEFT"


class RawOutput(Batchlet):
    """Writes straight to the file descriptors (as C code or a subprocess does)."""

    def process(self):
        os.write(1, b"raw line\\n")
        subprocess.run(["echo", "from a subprocess"], check=True)
        os.write(2, b"raw error\\n")
        os.write(1, b"no newline at the end")
        return "RAW"


class Sleep(Batchlet):
    """Waits until stop() is called (or 60 s pass)."""

    def __init__(self):
        self.stopped = threading.Event()

    def process(self):
        print(f"sleeping {{os.getpid()}}", flush=True)
        self.stopped.wait(60)
        return "WOKEN" if self.stopped.is_set() else "TIMED-OUT"

    def stop(self):
        self.stopped.set()
'''


def write_pool_app(directory: Path, name: str) -> Path:
    """An application directory holding ``poolapp`` (its ``APP`` is ``name``)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "poolapp.py").write_text(POOL_APP.format(name=name))
    return directory


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent does not count)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
