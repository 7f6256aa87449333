"""Batchlets of the benchmarks (run by agents in their worker processes)."""
import time


class Stamp:
    """Records the wall time at which it started as the job's exit status (so the execution
    list carries it to the benchmark without one request per execution)."""

    def process(self):
        stamp = f"{time.time():.6f}"
        self.job_context.exit_status = stamp
        return stamp


class Noop:
    """Returns at once: the dispatch benchmark measures the bus and the agents, not the job."""

    def process(self):
        return "COMPLETED"
