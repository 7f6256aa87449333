"""Readers, processors, writers and a checkpoint algorithm of the engine tests.

Items are the numbers 1..count. Failures are chosen by properties: ``fail_at`` (an item
number) and ``error`` (an exception class name of this module or a builtin); ``times`` is how
often the failure happens before the call succeeds (default: always).
"""
import builtins
import threading

from jsagent.api import CheckpointAlgorithm, ItemProcessor, ItemReader, ItemWriter

_lock = threading.Lock()
_failures: dict = {}


class Retryable(Exception):
    pass


class Skippable(Exception):
    pass


class SkippableChild(Skippable):
    pass


class Fatal(Exception):
    pass


def maybe_fail(owner, where: str, item) -> None:
    """Raise the configured error at ``item``, ``times`` times at most (per process)."""
    numbers = [int(n) for n in str(getattr(owner, "fail_at", "") or "").split(",") if n]
    if item not in numbers:
        return
    times = int(getattr(owner, "times", "0") or 0)
    key = (where, item)
    with _lock:
        _failures[key] = _failures.get(key, 0) + 1
        if times and _failures[key] > times:
            return
    name = getattr(owner, "error", "ValueError")
    error = globals().get(name) or getattr(builtins, name)
    raise error(f"{where} failed at item {item}")


class NumberReader(ItemReader):
    count = "10"
    fail_at = ""
    block_at = ""
    delay = "0"
    remember = ""

    def open(self, checkpoint):
        self.last = int(checkpoint or 0)
        print(f"reader open {checkpoint}", flush=True)
        if self.remember:
            print(f"user data {self.step_context.persistent_user_data}", flush=True)

    def read_item(self):
        if self.last >= int(self.count):
            return None
        number = self.last = self.last + 1  # a failed read consumes its item
        maybe_fail(self, "read", number)
        if self.remember:
            self.step_context.persistent_user_data = {"read": number}
        if float(self.delay):
            threading.Event().wait(float(self.delay))
        if self.block_at and number == int(self.block_at):
            print(f"blocking at {number}", flush=True)
            self.job_context.wait_for_stop(30)
        return number

    def checkpoint_info(self):
        return self.last

    def close(self):
        print("reader close", flush=True)


class Processor(ItemProcessor):
    """Multiplies by ``factor``; filters out multiples of ``filter`` (0: none)."""

    factor = "1"
    filter = "0"
    fail_at = ""

    def process_item(self, item):
        maybe_fail(self, "process", item)
        if int(self.filter) and item % int(self.filter) == 0:
            return None
        return item * int(self.factor)


class FileWriter(ItemWriter):
    """Appends each item as a line to ``path``; its checkpoint is how many it wrote."""

    path = ""
    fail_at = ""

    def open(self, checkpoint):
        self.written = int(checkpoint or 0)
        print(f"writer open {checkpoint}", flush=True)

    def write_items(self, items):
        for item in items:
            maybe_fail(self, "write", item)
        print(f"write {items}", flush=True)
        if self.path:
            with open(self.path, "a") as out:
                out.writelines(f"{item}\n" for item in items)
        self.written += len(items)

    def checkpoint_info(self):
        return self.written

    def close(self):
        print("writer close", flush=True)


class EveryN(CheckpointAlgorithm):
    """Ready after every ``n`` items; prints its calls."""

    n = "3"

    def check_point_timeout(self):
        print("algorithm timeout", flush=True)
        return 0

    def begin_checkpoint(self):
        self.seen = 0
        print("algorithm begin", flush=True)

    def is_ready_to_checkpoint(self):
        self.seen += 1
        return self.seen >= int(self.n)

    def end_checkpoint(self):
        print("algorithm end", flush=True)
