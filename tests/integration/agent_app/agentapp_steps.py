"""Batchlets of the agent tests' tiny application (put this directory on the classpath)."""
import logging
import os
import signal
import sys
import threading

from jsagent.api import Batchlet

log = logging.getLogger("agentapp")


class Hello(Batchlet):
    """Prints and logs a greeting built from a step property and a job parameter."""

    greeting = "hello"

    def process(self):
        name = self.job_parameters.get("name", "nobody")
        print(f"{self.greeting} {name}")
        log.info("logged %s from %s", name, self.step_context.step_name)
        return None


class Shout:
    """A plain class (no base): returns its own exit status."""

    def process(self):
        print("SHOUT", file=sys.stderr)
        log.warning("shouting in %s", self.job_context.job_name)
        return getattr(self, "exit_status", "SHOUTED")


class Boom(Batchlet):
    """Raises."""

    def process(self):
        raise ValueError("boom")


class ExitThree(Batchlet):
    """Calls sys.exit(3)."""

    def process(self):
        sys.exit(3)


class HardExit(Batchlet):
    """Ends the worker process at once, without any final event."""

    def process(self):
        print("about to exit hard", flush=True)
        os._exit(7)


class SleepUntilStopped(Batchlet):
    """Waits until stop() is called (or 60 s pass)."""

    def __init__(self):
        self.stopped = threading.Event()

    def process(self):
        print("sleeping", flush=True)
        self.stopped.wait(60)
        return "WOKEN" if self.stopped.is_set() else "TIMED-OUT"

    def stop(self):
        self.stopped.set()


class IgnoresStop(Batchlet):
    """Ignores SIGTERM and stop(): only SIGKILL ends it."""

    def process(self):
        import subprocess
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # a command in a session of its own, as the shell batchlet starts them
        child = subprocess.Popen(["sleep", "300"], start_new_session=True)
        print(f"child pid {child.pid}", flush=True)
        print("ignoring stop", flush=True)
        threading.Event().wait(60)  # nothing sets it: only SIGKILL ends this step
        return "NEVER"
