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


class NumberReader:
    """Reads the numbers 1..``count``; fails once at ``fail_at`` (a ``marker`` file remembers
    that it did); waits ``pause`` seconds before each item. Its checkpoint is the next number."""

    count, fail_at, marker, pause = "1000", "0", "", "0"

    def open(self, checkpoint):
        import threading
        self.next = checkpoint or 1
        self.wait = threading.Event().wait

    def read_item(self):
        from pathlib import Path
        if self.next > int(self.count):
            return None
        number = self.next
        if number == int(self.fail_at) and not Path(self.marker).exists():
            Path(self.marker).write_text("failed once")
            raise RuntimeError(f"reader failed at item {number}")
        if float(self.pause):
            self.wait(float(self.pause))
        self.next += 1
        return number

    def checkpoint_info(self):
        return self.next

    def close(self):
        pass


class LineWriter:
    """Appends each written item as a line to the file ``path``."""

    path = ""

    def open(self, checkpoint):
        pass

    def write_items(self, items):
        with open(self.path, "a") as out:
            out.writelines(f"{item}\n" for item in items)

    def checkpoint_info(self):
        return None

    def close(self):
        pass


def main_function(argv):
    """For python-main: prints its arguments, returns an exit status."""
    print("python-main got", " ".join(argv))
    return f"ARGS-{len(argv)}"
