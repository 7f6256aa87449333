"""Celery tasks of the dispatch benchmark: the counterpart of ``bench_batch.Noop``.

Broker and result backend: the private redis-server that ``bench/celery_side.py`` starts,
named by ``BENCH_REDIS_URL`` (loopback only). ``make_app(url)`` gives one app per client
thread of the benchmark (the redis result backend's pub/sub is not shared across threads);
the worker runs ``-A bench.celery_app.bench_tasks`` (the module-level ``app``).
"""
from __future__ import annotations

import os
import time

from celery import Celery

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def make_app(url: str | None = None) -> Celery:
    url = url or os.environ.get("BENCH_REDIS_URL", DEFAULT_URL)
    celery = Celery("bench_tasks", broker=url, backend=url, set_as_current=False)
    celery.conf.update(
        task_serializer="json", result_serializer="json", accept_content=["json"],
        broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
        result_expires=3600, task_track_started=False)

    @celery.task(name="bench.noop", shared=False)
    def noop():
        """Returns at once: the wall time at which it ran (the end of the execution, like the
        end time a jsbus agent reports)."""
        return time.time()

    @celery.task(name="bench.ping", shared=False)
    def ping():
        return "pong"

    return celery


app = make_app()
