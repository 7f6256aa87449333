"""The agent process, assembled: identity, runtime actor, reporter, HTTP server, discovery.

``Agent(config).start()`` builds the world; ``shutdown()`` takes it down in reverse order.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any

import falcon
import pykka

from jsagent.artifacts import ArtifactCache
from jsagent.dryrun import run_dry
from jsagent.identity import instance_id
from jsagent.heartbeat import Heartbeat, SelfFence
from jsagent.reporter import EventReporter, bus_client
from jsagent.pool import PoolSettings
from jsagent.runtime import (Drain, ExecutionRuntime, Fence, Moved, PrestartWorkers,
                             QueryExecution, Shutdown, Snapshot, StartExecution,
                             StartExecutions, StopExecution, Unfence)
from jsagent.server import AgentServer, create_app
from jsagent.spec import WILDCARD_HOSTS, AgentDocument
from jsagent.trust import AgentKeys, SigningClient
from jsagent.stats import HostStats
from jsagent.workerproc import PoolWorker, spawn_worker
from jsagent.zygote_client import ZygoteClient
from jsbus import __version__
from jsbus.config import Config, split_bind, user_data_dir
from jsbus.errors import ConfigurationError
from jsbus.model import StartCommand

log = logging.getLogger(__name__)
DEFAULT_PORT = 4510
ZYGOTE_READY_TIMEOUT = 15.0  # seconds start() waits for the zygote's imports
ARTIFACT_TIMEOUT = 60.0  # seconds without progress before an artifact download gives up


def work_dir(config: Config) -> Path:
    """``agent.work_dir``, else ``$XDG_DATA_HOME/jsagent``, else ``~/.local/share/jsagent``."""
    return user_data_dir(config.get("agent.work_dir"), "jsagent")


def zygote_enabled() -> bool:
    """Workers are forked by a zygote unless ``JSAGENT_ZYGOTE`` is 0 (or false, no, off)."""
    return os.environ.get("JSAGENT_ZYGOTE", "1").strip().lower() not in ("0", "false", "no",
                                                                         "off")


def capacity(config: Config) -> int:
    """``agent.capacity``; 0 means twice the CPU cores."""
    return int(config.get("agent.capacity")) or 2 * (os.cpu_count() or 1)


def pool_settings(config: Config, capacity: int) -> PoolSettings:
    """The worker pool's rules from ``agent.worker_*`` (``worker_max_idle`` 0: ``capacity``)."""
    max_idle = int(config.get("agent.worker_max_idle")) or capacity
    spare = max(0, int(config.get("agent.worker_spare")))
    return PoolSettings(reuse=int(config.get("agent.worker_reuse")),
                        idle=float(config.get("agent.worker_idle")), max_idle=max_idle,
                        spare=spare, limit=capacity + max_idle + spare)


class Agent:
    """One running agent. Also the ``AgentControl`` the HTTP resources call."""

    def __init__(self, config: Config):
        self.config = config
        self.work_dir = work_dir(config)
        self.instance_id = instance_id(self.work_dir)
        self.keys = AgentKeys(self.work_dir, self.instance_id, config.get("agent.join_token"),
                              float(config.get("agent.signature_skew")))
        os.environ.pop("JSAGENT_JOIN_TOKEN", None)  # not for the workers' job code
        self.name = config.get("agent.name") or socket.gethostname()
        self.capacity = capacity(config)
        self.idle = threading.Event()
        self._dry_runs = threading.BoundedSemaphore(self.capacity)
        self._timeout = float(config.get("agent.request_timeout"))
        self._runtime: pykka.ActorRef | None = None
        self._advertiser: Any = None
        self.reporter: EventReporter | None = None
        self.heartbeat: Heartbeat | None = None
        self.server: AgentServer | None = None
        self.zygote: ZygoteClient | None = None

    def start(self) -> None:
        """Start the zygote and the runtime, listen, heartbeat, then advertise (unless
        discovery is off)."""
        cfg = self.config
        if zygote_enabled():  # its imports run while the rest starts
            self.zygote = ZygoteClient(cwd=str(self.work_dir)).start()
        self.artifacts = ArtifactCache(self.work_dir / "artifacts",
                                       SigningClient(bus_client(ARTIFACT_TIMEOUT), self.keys),
                                       lambda: self.reporter.bus_url)
        self.reporter = EventReporter(self.instance_id, cfg.get("agent.bus"),
                                      SigningClient(bus_client(self._timeout), self.keys),
                                      cfg.get("agent.event_batch"))
        self._runtime = ExecutionRuntime.start(
            self.reporter.emit, self.capacity, float(cfg.get("agent.stop_grace")),
            spawn=self._spawn, settings=pool_settings(cfg, self.capacity),
            handoff=float(cfg.get("agent.handoff")), idle=self.idle,
            work_dir=str(self.work_dir))
        host, port = split_bind(cfg.get("agent.bind"), DEFAULT_PORT)
        self.server = AgentServer(create_app(self, self.keys), host, port)
        self._document = AgentDocument(
            self.instance_id, self.name, cfg.get("agent.advertise_host"), host,
            self.server.port, self.capacity, self.jobs, lambda: self.reporter.bus_url,
            HostStats())
        fence = SelfFence(float(cfg.get("agent.self_fence")),
                          lambda why: self._runtime.tell(Fence(why)),
                          lambda: self._runtime.tell(Unfence()))
        self.heartbeat = Heartbeat(self.reporter, self._document.render,
                                   SigningClient(bus_client(self._timeout), self.keys),
                                   cfg.get("agent.heartbeat_interval"), keys=self.keys,
                                   on_moved=self.moved, fence=fence)
        if self.zygote is not None and not self.zygote.wait_ready(ZYGOTE_READY_TIMEOUT):
            log.warning("the zygote is not ready; workers start as fresh processes until it is")
        self._runtime.tell(PrestartWorkers())
        self.server.start()
        self.reporter.start()
        self.heartbeat.start()
        log.info("jsagent %s listening on %s", self.instance_id, self.server.url,
                 extra={"plain": True})
        if cfg.get("discovery.enabled"):
            self._advertise(host)

    def _spawn(self, number: int) -> PoolWorker:
        return spawn_worker(number, str(self.work_dir), self.zygote)

    def _advertise(self, bind_host: str) -> None:
        from jsbus.plugins import PluginHost  # plugins load only when discovery is on
        # A wildcard host lets the advertiser pick this machine's addresses itself.
        host = self.config.get("agent.advertise_host") or bind_host
        try:
            self._advertiser = PluginHost(self.config).discovery().advertiser(self.config)
            self._advertiser.register(self.instance_id, self.name, self.server.port,
                                      "0.0.0.0" if host in WILDCARD_HOSTS else host,
                                      {"instance-id": self.instance_id, "version": __version__,
                                       "capacity": str(self.capacity)})
        except Exception as exc:
            if not self.reporter.bus_url:
                raise ConfigurationError(f"discovery failed and no bus is configured: "
                                         f"{exc}") from exc
            log.error("discovery failed (%s); reporting to %s only", exc, self.reporter.bus_url)

    def drain(self, grace: float | None = None) -> None:
        """Take no new work (heartbeats say ``agent/draining``); executions still running after
        ``grace`` seconds (default ``agent.drain_grace``) are stopped with reason ``drain``.
        ``idle`` is set once none runs."""
        if grace is None:
            grace = float(self.config.get("agent.drain_grace"))
        if self._runtime is not None:
            self._runtime.tell(Drain(grace))
        if self.heartbeat is not None:
            self.heartbeat.beat_now()

    def shutdown(self, kill: bool = False) -> None:
        """Refuse new work, stop running executions (``kill``: SIGKILL them at once), flush
        events (bounded), unadvertise, stop serving."""
        grace = 0.0 if kill else float(self.config.get("agent.stop_grace"))
        if self._runtime is not None:
            try:
                self._runtime.ask(Shutdown(kill=kill), timeout=self._timeout)
            except (pykka.Timeout, pykka.ActorDeadError):
                log.error("the runtime did not answer the shutdown")
            if not self.idle.wait(grace + 5.0):
                log.error("executions were still running when the agent stopped")
        if self.heartbeat is not None:
            self.heartbeat.close()
            self.reporter.close(1.0 if kill else self._timeout)
        if self._advertiser is not None:
            try:
                self._advertiser.close()
            except Exception:  # noqa: BLE001 - shutting down anyway
                log.exception("discovery did not close cleanly")
        if self.server is not None:
            self.server.close()
        if self._runtime is not None:
            self._runtime.stop(timeout=self._timeout)
        if self.zygote is not None:
            self.zygote.close()

    # --- AgentControl, called from HTTP threads ------------------------------------------

    def jobs(self) -> dict[str, Any]:
        """``{"running": n, "executions": [[id, attempt], ...], "draining": bool}``."""
        return self._runtime.ask(Snapshot(), timeout=self._timeout)

    def running(self) -> int:
        """Executions running now."""
        return self.jobs()["running"]

    def moved(self, pairs: list[tuple[int, int]]) -> None:
        """The bus moved these executions away: kill them, then drop their unsent events."""
        found = self._runtime.ask(Moved(tuple(pairs)), timeout=self._timeout)
        dropped = self.reporter.drop(pairs)
        if found or dropped:
            log.warning("the bus moved %s away: killed %d, dropped %d unsent events",
                        sorted(pairs), len(found), dropped)

    def query_execution(self, execution_id: int,
                        attempt: int | None) -> tuple[int, dict[str, Any]]:
        return self._runtime.ask(QueryExecution(execution_id, attempt), timeout=self._timeout)

    def document(self) -> dict[str, Any]:
        return self._document.render()

    def join(self, bus_url: str) -> dict[str, Any]:
        log.info("joining the bus at %s", bus_url)
        self.reporter.join(bus_url)
        self.heartbeat.beat_now()
        return self.document()

    def start_execution(self, command: StartCommand) -> tuple[int, dict[str, Any]]:
        command = self.artifacts.localize(command)
        return self._runtime.ask(StartExecution(command), timeout=self._timeout)

    def start_executions(self, commands: list[StartCommand]) -> list[tuple[int, dict[str, Any]]]:
        commands = [self.artifacts.localize(command) for command in commands]
        return self._runtime.ask(StartExecutions(tuple(commands)), timeout=self._timeout)

    def stop_execution(self, execution_id: int) -> bool:
        return self._runtime.ask(StopExecution(execution_id), timeout=self._timeout)

    def dry_run(self, document: Any, timeout: float) -> dict[str, Any]:
        """Run ``document`` with no-op components (``jsagent.dryrun``) in a worker process of
        its own, outside the pool and its capacity; at most ``capacity`` at once."""
        if not self._dry_runs.acquire(blocking=False):
            raise falcon.HTTPServiceUnavailable(
                description=f"this agent runs {self.capacity} dry runs already; try another")
        try:
            return run_dry(document, timeout, cwd=str(self.work_dir))
        finally:
            self._dry_runs.release()
