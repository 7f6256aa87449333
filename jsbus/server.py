"""``jsbus serve``: gunicorn embedded through ``BaseApplication``.

One gthread worker. The Bus (actors, zeroconf, database connections) is built when the worker
loads the app and started in ``post_worker_init``, after the fork: threads never survive a fork
(stack-notes §5). ``preload_app`` stays off for that reason. Should gunicorn run more workers
anyway (``WEB_CONCURRENCY``), the leader lock keeps one dispatcher.

SIGTERM drains: the worker's leader (if it leads) stops its dispatcher and scheduler at once
and releases the leader lock, so that another bus process takes over (``Bus.resign``); gunicorn
stops accepting and lets the requests in flight finish (``graceful_timeout``); then the bus
stops and its storage is closed (``worker_exit``).
"""
from __future__ import annotations

import logging
import signal
import threading

from gunicorn.app.base import BaseApplication

from jsbus.api.app import create_app
from jsbus.bus import Bus
from jsbus.config import Config

log = logging.getLogger(__name__)


def gunicorn_settings(config: Config, workers: int = 1) -> dict:
    """The gunicorn settings of ``jsbus serve`` without its hooks (the benchmarks serve other
    apps with the same ones)."""
    return {
        "bind": [config.get("bus.bind")],
        "workers": workers,
        "worker_class": "gthread",
        "threads": config.get("bus.threads"),
        "preload_app": False,
        "graceful_timeout": 10,
        "timeout": 60,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "jsbus",
    }


class BusServer(BaseApplication):
    def __init__(self, config: Config, workers: int = 1):
        self.config = config
        self.workers = workers
        self.bus: Bus | None = None
        super().__init__()

    def load_config(self) -> None:
        settings = {
            **gunicorn_settings(self.config, self.workers),
            "post_worker_init": self._post_worker_init,
            "worker_exit": self._worker_exit,
        }
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self):
        self.bus = Bus(self.config)
        return create_app(self.bus)

    def _post_worker_init(self, worker) -> None:
        self.bus.start()
        # gunicorn's handler (set before this hook) stops the worker gracefully; before it, the
        # bus resigns its leadership, on a thread: a signal handler must not wait on actors.
        previous = signal.getsignal(signal.SIGTERM)
        bus = self.bus

        def on_sigterm(signum, frame):
            threading.Thread(target=bus.resign, name="bus-drain", daemon=True).start()
            if callable(previous):
                previous(signum, frame)

        signal.signal(signal.SIGTERM, on_sigterm)

    def _worker_exit(self, server, worker) -> None:
        if self.bus is not None and self.bus.started.is_set():
            self.bus.stop()


def serve(config: Config, workers: int = 1) -> None:
    BusServer(config, workers).run()
