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
