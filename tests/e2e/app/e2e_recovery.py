"""Batchlets of the recovery tests (issue 8): each run leaves a trace, so that a test can count
how many times an execution ran."""
import threading


class AppendId:
    """Appends its execution id to ``path`` (one line per run), then takes ``seconds``."""

    path = ""
    seconds = "0"

    def __init__(self):
        self._stop = threading.Event()

    def process(self):
        with open(self.path, "a") as out:
            out.write(f"{self.job_context.execution_id}\n")
        if self._stop.wait(float(self.seconds)):
            return "STOPPED"
        return "APPENDED"

    def stop(self):
        self._stop.set()
