"""A listener of every kind that prints each call (``<name> <method> <args>``), and deciders."""
import json

from jsagent.api import Decider

METHODS = ("before_job", "after_job", "before_step", "after_step", "before_chunk", "after_chunk",
           "on_error", "before_read", "after_read", "on_read_error", "before_process",
           "after_process", "on_process_error", "before_write", "after_write", "on_write_error",
           "on_skip_read_item", "on_skip_process_item", "on_skip_write_item",
           "on_retry_read_exception", "on_retry_process_exception", "on_retry_write_exception")


def _show(value):
    if isinstance(value, BaseException):
        return type(value).__name__
    return repr(value)


class Recorder:
    """Prints its calls; raises RuntimeError in the method named by ``fail_in``; ``only``
    limits the printed methods (comma-separated)."""

    name = "L"
    fail_in = ""
    only = ""

    def _record(self, method, *args):
        if not self.only or method in self.only.split(","):
            print(" ".join([self.name, method, *map(_show, args)]), flush=True)
        if method == self.fail_in:
            raise RuntimeError(f"{method} failed")

    def __getattr__(self, method):
        if method in METHODS:
            return lambda *args: self._record(method, *args)
        raise AttributeError(method)


class StatusAfterStep:
    """A step listener that prints the step's batch status and sets its exit status."""

    exit_status = ""

    def after_step(self):
        print(f"after_step sees {self.step_context.batch_status}", flush=True)
        if self.exit_status:
            self.step_context.exit_status = self.exit_status


class Echo(Decider):
    """Prints what it receives; returns ``answer`` or the first execution's exit status."""

    answer = ""

    def decide(self, executions):
        print("DECIDE " + json.dumps([[e.step_name, e.batch_status, e.exit_status]
                                      for e in executions]), flush=True)
        return self.answer or executions[0].exit_status


class Broken(Decider):
    def decide(self, executions):
        raise KeyError("no decision")
