"""What every bus actor shares: storage, transport, plugins, config, an I/O pool, the clock."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from jsbus.backends import Transport
from jsbus.config import Config
from jsbus.model import BatchStatus, JobExecution, utcnow
from jsbus.plugins import PluginHost
from jsbus.storage import Storage


@dataclass
class BusContext:
    config: Config
    plugins: PluginHost
    storage: Storage
    transport: Transport
    io: ThreadPoolExecutor  # blocking work (HTTP to agents) runs here, never on actor threads
    bus_url_for: Callable[[str], str]  # agent host -> the URL of this bus as that host sees it
    clock: Callable[[], datetime] = field(default=utcnow)

    def status_changed(self, execution: JobExecution, previous: BatchStatus) -> None:
        self.plugins.notify("jsbus_execution_status_changed", execution=execution,
                            previous=previous)
