"""Batchlets of the engine tests."""
import json
import logging
import threading

from jsagent.api import Batchlet, named

log = logging.getLogger("eapp")


class Exit(Batchlet):
    """Returns the property ``status`` as its exit status (None when unset)."""

    status = None

    def process(self):
        return self.status


class Fail(Batchlet):
    """Raises ValueError(message) when ``fail`` is "yes" (the default)."""

    fail = "yes"
    message = "boom"

    def process(self):
        if self.fail == "yes":
            raise ValueError(self.message)
        return None


class Sleep(Batchlet):
    """Waits ``seconds`` (or until stopped), logging its start and end."""

    seconds = "0.5"

    def process(self):
        log.info("sleep begins in %s", self.step_context.step_name)
        self.job_context.wait_for_stop(float(self.seconds))
        log.info("sleep ends in %s", self.step_context.step_name)


class WaitForStop(Batchlet):
    """Prints ``waiting``, then waits until ``stop()`` is called (60 s at most)."""

    def __init__(self):
        self.stopped = threading.Event()

    def process(self):
        print("waiting", flush=True)
        self.stopped.wait(60)
        return "WOKEN" if self.stopped.is_set() else "TIMED-OUT"

    def stop(self):
        print("stop() called", flush=True)
        self.stopped.set()


class SetStatuses(Batchlet):
    """Sets the step's and/or the job's exit status from properties; returns ``returns``."""

    step_status = job_status = returns = None

    def process(self):
        if self.step_status:
            self.step_context.exit_status = self.step_status
        if self.job_status:
            self.job_context.exit_status = self.job_status
        return self.returns


class ShowProperties(Batchlet):
    """Prints one JSON line: its own properties (attributes), the step's and the job's."""

    names = ""

    def process(self):
        own = {name: getattr(self, name.replace(".", "_"), None)
               for name in self.names.split(",") if name}
        print("PROPS " + json.dumps({"own": own, "step": self.step_context.properties,
                                     "job": self.job_context.properties,
                                     "partition": self.step_context.partition}), flush=True)


class CountRuns(Batchlet):
    """Keeps a run counter in the step's persistent user data."""

    def process(self):
        data = self.step_context.persistent_user_data or {"runs": 0}
        self.step_context.persistent_user_data = {"runs": data["runs"] + 1}
        return f"RUN-{data['runs'] + 1}"


@named("eapp-hello")
class Hello(Batchlet):
    def process(self):
        return "HELLO"
