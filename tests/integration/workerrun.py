"""Run one ``python -m jsagent.worker`` on a start command, as the agent would, for tests."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading


def run_worker(command: dict, timeout: float = 45) -> tuple[list[dict],
                                                          subprocess.CompletedProcess]:
    """Run one worker to its end: its events (read from the event pipe) and how it ended.
    A worker still running after ``timeout`` is killed with its process group."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "jsagent.worker"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(write_fd,),
                            env=dict(os.environ, JSAGENT_EVENT_FD=str(write_fd)),
                            start_new_session=True)
    os.close(write_fd)
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.extend(os.fdopen(read_fd, "rb")))
    reader.start()
    out = err = b""
    try:
        out, err = proc.communicate(json.dumps(command).encode(), timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        reader.join(timeout)
    return [json.loads(line) for line in lines], subprocess.CompletedProcess(
        proc.args, proc.returncode, out, err)
