"""Batchlets of the end-to-end tests' application (runs in the agent's worker processes)."""
import logging
import os

log = logging.getLogger("e2e_batch")


class Greet:
    greeting = "Hello"

    def process(self):
        print(f"{self.greeting} from pid {os.getpid()}")
        log.info("greeted")
        return "GREETED"

    def stop(self):
        pass


class Count:
    def process(self):
        total = sum(range(1000))
        log.info("counted to %s", total)
        return None


class Boom:
    def process(self):
        raise RuntimeError("boom: the batchlet failed on purpose")


class HardExit:
    def process(self):
        os._exit(7)


class Nap:
    """Takes ``seconds`` (a step property) of wall time, like a real step doing I/O."""

    seconds = "0.5"

    def process(self):
        import threading
        threading.Event().wait(float(self.seconds))
        return "RESTED"


class FailsOnce:
    """Fails the first time it runs for a given ``marker`` file, succeeds afterwards."""

    marker = ""

    def process(self):
        from pathlib import Path
        marker = Path(self.marker)
        if not marker.exists():
            marker.write_text("failed once")
            raise RuntimeError("first attempt fails")
        return "SECOND-TIME-LUCKY"


class WaitsForStop:
    """Runs until stop() is called (at most 60 s), then returns STOPPED-BY-REQUEST."""

    def __init__(self):
        import threading
        self.stopped = threading.Event()

    def process(self):
        print("waiting for stop", flush=True)
        return "STOPPED-BY-REQUEST" if self.stopped.wait(60) else "NOT-STOPPED"

    def stop(self):
        self.stopped.set()


class Chatty:
    """Logs ``lines`` numbered lines."""

    lines = "25"

    def process(self):
        for number in range(int(self.lines)):
            log.info("line %d", number)
        return "SAID"
