"""The Celery side of the dispatch benchmark: Celery 5 with a private Redis as broker and
result backend, one ``celery worker --pool=prefork --concurrency=N`` (default 2, like the two
agents of the jsbus side), and rounds of ``count`` tasks (``bench.noop``, returns at once).

Everything binds to loopback: ``redis-server`` on a free 127.0.0.1 port without persistence
(``--save "" --appendonly no``, in a temporary directory), the worker started with this
interpreter (``sys.executable -m celery``). ``running_celery()`` stops the worker (and any of
its pool processes left) and Redis on the way out, even on error.

Fairness with the jsbus side (``bench/jsbus_dispatch.py``, 8 concurrent HTTP clients in the
benchmark process): a round submits from the benchmark process too, through ``clients``
threads (default 8), each with its own Celery app (own broker connection and own result
backend pub/sub: redis-py's PubSub is not thread-safe), each calling ``.delay()`` for its
share, then waiting for its results (``ResultSet.join_native``, bounded). A round is timed
from the first submit to the latest end time the tasks returned (the task returns
``time.time()``), as the jsbus side is timed to the latest ``end-time`` the bus recorded;
``seconds_to_client`` (until the benchmark held every result) is reported beside it.

Run alone (starts Redis and a worker, one round, prints JSON):

    python -m bench.celery_side [--count 300] [--clients 8] [--concurrency 2]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import psutil

from bench.common import ROOT, cpu_seconds, tree
from jsbus.launch import Process, free_port, wait_until

TASKS = "bench.celery_app.bench_tasks"


def redis_server() -> str:
    found = shutil.which("redis-server") or ("/usr/bin/redis-server"
                                             if Path("/usr/bin/redis-server").exists() else None)
    if not found:
        raise RuntimeError("redis-server not found: install it (apt-get install redis-server)")
    return found


def redis_version() -> str | None:
    with contextlib.suppress(Exception):
        out = subprocess.run([redis_server(), "--version"], capture_output=True, text=True,
                             timeout=10).stdout
        for part in out.split():
            if part.startswith("v="):
                return part[2:]
    return None


@dataclass
class CelerySide:
    """A running Redis and Celery worker, and the URL of the Redis they share."""
    url: str
    redis: Process
    worker: Process
    concurrency: int
    workdir: Path

    def cpu_seconds(self) -> float:
        """CPU time of Redis and of the worker with its pool processes."""
        return cpu_seconds(self.redis.popen.pid) + cpu_seconds(self.worker.popen.pid)

    def round(self, count: int, clients: int = 8, timeout: float = 600.0) -> dict:
        """Submit ``count`` tasks from ``clients`` threads and wait (bounded) for every result."""
        from celery.result import ResultSet

        from bench.celery_app.bench_tasks import make_app
        share = [count // clients + (1 if n < count % clients else 0) for n in range(clients)]
        apps = [make_app(self.url) for _ in range(clients)]
        for app in apps:   # connect before the clock starts, as the HTTP clients' pools do lazily
            app.loader.import_default_modules()
            app.tasks["bench.noop"]  # noqa: B018 (finalizes the app)
        deadline = time.monotonic() + timeout

        def client(n: int) -> tuple[list, float, float]:
            app = apps[n]
            task = app.tasks["bench.noop"]
            results = [task.delay() for _ in range(share[n])]
            submitted = time.time()
            left = max(1.0, deadline - time.monotonic())
            values = ResultSet(results, app=app).join_native(timeout=left, propagate=False)
            return values, submitted, time.time()

        start = time.time()
        try:
            with ThreadPoolExecutor(clients) as pool:
                parts = list(pool.map(client, range(clients)))
        finally:
            for app in apps:
                with contextlib.suppress(Exception):
                    app.close()
        values = [v for part in parts for v in part[0]]
        done = [v for v in values if isinstance(v, float)]
        last = max(done, default=time.time())
        elapsed = last - start
        return {"executions": count, "completed": len(done), "not_completed": count - len(done),
                "clients": clients, "seconds": round(elapsed, 3),
                "submit_seconds": round(max(p[1] for p in parts) - start, 3),
                "seconds_to_client": round(max(p[2] for p in parts) - start, 3),
                "per_second": round(len(done) / elapsed, 1) if elapsed > 0 else None}


def _kill_leftovers(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).kill()


@contextlib.contextmanager
def running_celery(concurrency: int = 2, workdir: Path | None = None,
                   timeout: float = 60.0) -> Iterator[CelerySide]:
    workdir = workdir or Path(tempfile.mkdtemp(prefix="jsbus-bench-celery-"))
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    redis = worker = None
    pool_pids: list[int] = []
    try:
        redis = Process([redis_server(), "--port", str(port), "--bind", "127.0.0.1",
                         "--save", "", "--appendonly", "no", "--dir", str(workdir),
                         "--protected-mode", "yes", "--daemonize", "no"],
                        workdir / "redis.log")
        import redis as redis_client
        probe = redis_client.Redis.from_url(url, socket_timeout=2)

        def redis_ready() -> bool:
            if redis.popen.poll() is not None:
                raise RuntimeError(f"redis-server exited:\n{redis.output()[-2000:]}")
            try:
                return bool(probe.ping())
            except redis_client.RedisError:
                return False
        wait_until(redis_ready, timeout, interval=0.05, what="redis-server")
        probe.close()

        env = {"BENCH_REDIS_URL": url,
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        worker = Process([sys.executable, "-m", "celery", "-A", TASKS, "worker",
                          "--pool=prefork", f"--concurrency={concurrency}",
                          "--loglevel=WARNING", "--without-gossip", "--without-mingle",
                          "--without-heartbeat", "--hostname", f"bench-{port}@%h"],
                         workdir / "celery-worker.log", env)

        from bench.celery_app.bench_tasks import make_app
        app = make_app(url)
        try:
            def worker_ready() -> bool:
                if worker.popen.poll() is not None:
                    raise RuntimeError(f"the celery worker exited:\n{worker.output()[-3000:]}")
                return bool(app.control.ping(timeout=0.5))
            wait_until(worker_ready, timeout, interval=0.2, what="the celery worker")
            app.tasks["bench.ping"].delay().get(timeout=timeout)
        finally:
            app.close()
        pool_pids = [p.pid for p in tree(worker.popen.pid)[1:]]
        yield CelerySide(url, redis, worker, concurrency, workdir)
    finally:
        if worker is not None:
            pool_pids += [p.pid for p in tree(worker.popen.pid)[1:]]
            with contextlib.suppress(Exception):
                worker.stop(timeout=15)
            _kill_leftovers(pool_pids)
        if redis is not None:
            with contextlib.suppress(Exception):
                redis.stop(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    with running_celery(args.concurrency) as side:
        before = side.cpu_seconds()
        figures = side.round(args.count, args.clients)
        figures["cpu_seconds"] = round(side.cpu_seconds() - before, 3)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
