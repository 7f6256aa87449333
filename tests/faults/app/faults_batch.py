"""Batch components of the fault-injection tests (they run in the agents' worker processes).
Every component writes to files under a directory given as a property, so that the tests can
count, after the fact, what ran and how often."""
import os
import threading
from pathlib import Path


def _append(path, text):
    # one write() of a short line to a file opened O_APPEND: lines never interleave
    with open(path, "a") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())


class SlowNumbers:
    """Reads 1..``count``, ``pause`` seconds before each item: a pause that the execution's stop
    cuts short (a stopped chunk ends after that item, not a pause later). Its checkpoint is the
    next number."""

    count, pause = "20", "0.05"

    def open(self, checkpoint):
        self.next = checkpoint or 1

    def read_item(self):
        if self.next > int(self.count):
            return None
        self.job_context.wait_for_stop(float(self.pause))
        self.next += 1
        return self.next - 1

    def checkpoint_info(self):
        return self.next

    def close(self):
        pass


class ExecutionLines:
    """Appends ``<execution id> <item>`` lines to ``<dir>/<execution id>.items``."""

    dir = ""

    def open(self, checkpoint):
        pass

    def write_items(self, items):
        execution = self.job_context.execution_id
        path = Path(self.dir) / f"{execution}.items"
        _append(path, "".join(f"{execution} {item}\n" for item in items))

    def checkpoint_info(self):
        return None

    def close(self):
        pass


class Mark:
    """Appends its execution id to ``<dir>/ran`` once it has done its work (``seconds`` of
    wall time, cut short by stop(): then it returns STOPPED without marking)."""

    dir, seconds = "", "0"

    def __init__(self):
        self.stopped = threading.Event()

    def process(self):
        execution = self.job_context.execution_id
        _append(Path(self.dir) / "started", f"{execution} {os.getpid()}\n")
        if float(self.seconds) and self.stopped.wait(float(self.seconds)):
            return "STOPPED"
        _append(Path(self.dir) / "ran", f"{execution}\n")
        return "MARKED"

    def stop(self):
        self.stopped.set()
