"""Backend records that plugins register, and the small interfaces behind them.

The storage interface is in ``jsbus.storage``. Everything here is plain Python so that a
plugin author needs nothing else to write a backend.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Callable

from jsbus.model import AgentInfo, Delivery, JobDefinition, StartCommand


@dataclass(frozen=True)
class StorageBackend:
    name: str
    factory: Callable[..., Any]  # factory(config) -> jsbus.storage.Storage


@dataclass(frozen=True)
class TransportBackend:
    name: str
    factory: Callable[..., "Transport"]  # factory(config) -> Transport


@dataclass(frozen=True)
class DiscoveryBackend:
    name: str
    browser: Callable[..., "Browser"]  # browser(config, on_found) -> Browser
    advertiser: Callable[..., "Advertiser"]  # advertiser(config) -> Advertiser


@dataclass(frozen=True)
class JobParser:
    """Turns a job document of ``media_types`` into a JobDefinition, and back."""

    name: str
    media_types: tuple[str, ...]
    parse: Callable[[bytes], JobDefinition]  # raises JobDefinitionError with messages
    dump: Callable[[JobDefinition], bytes] | None = None


# The kinds of batch components, as ``GET /{app}/batch-components`` names them
# (``batch-component/<kind>``); every listener interface is a ``listener``.
COMPONENT_KINDS = ("batchlet", "item-reader", "item-writer", "item-processor",
                   "checkpoint-algorithm", "decider", "partition-mapper", "partition-reducer",
                   "partition-collector", "partition-analyzer", "listener")


@dataclass(frozen=True)
class BatchComponent:
    """One class a job document can name, found in an application's classpath."""

    kind: str  # one of COMPONENT_KINDS
    ref: str  # what a job document names it by: its registered (@named/@Named) name, else
    #           its qualified class name
    class_name: str  # qualified class name (module.Class, or the Java binary name)
    language: str  # "python" or "java"
    entry: str  # the classpath entry it was found in (a local path)


@dataclass(frozen=True)
class ScanResult:
    components: tuple[BatchComponent, ...] = ()
    problems: tuple[str, ...] = ()  # why an entry, module or class could not be read


@dataclass(frozen=True)
class ComponentScanner:
    """Finds batch components in classpath entries of its own language.

    ``scan(entries, config)`` gets local paths (directories, ``.whl``, ``.zip``, ``.py``,
    ``.jar``...), skips those it does not read, and never runs application code in the calling
    process (the bus): a scanner that must import code does it in a child process with a time
    limit. Problems are reported in the result, not raised.
    """

    name: str
    scan: Callable[..., ScanResult]  # scan(entries: list[Path], config) -> ScanResult


class Transport(abc.ABC):
    """How the bus sends commands to one agent. Calls block: run them off the actor threads.

    Every method raises ``TransportError`` when the agent cannot be reached or refuses.
    """

    @abc.abstractmethod
    def start_execution(self, agent: AgentInfo, command: StartCommand) -> dict[str, Any]:
        """Ask ``agent`` to run ``command``; idempotent on ``command.execution_id``."""

    def start_executions(self, agent: AgentInfo,
                         commands: list[StartCommand]) -> list[Exception | None]:
        """Ask ``agent`` to run several commands; for each, in order, None when the agent took
        it, else the ``TransportError`` that says why not. This default sends them one by one;
        a transport that can send them in one exchange overrides it."""
        from jsbus.errors import TransportError
        results: list[Exception | None] = []
        for command in commands:
            try:
                self.start_execution(agent, command)
                results.append(None)
            except TransportError as exc:
                results.append(exc)
        return results

    @abc.abstractmethod
    def stop_execution(self, agent: AgentInfo, execution_id: int) -> None:
        """Ask ``agent`` to stop an execution it runs."""

    @abc.abstractmethod
    def invite(self, address: "AgentAddress", bus_url: str) -> dict[str, Any]:
        """Tell an agent found by discovery which bus to join; returns what it says of itself."""

    def dry_run(self, agent: AgentInfo, document: dict[str, Any],
                timeout: float) -> dict[str, Any]:
        """Ask ``agent`` to run the job ``document`` (the JSON form) with every component a
        no-op (``jsbus.dryrun``) and answer its outcome once it ended: ``batch-status``,
        ``exit-status``, ``steps``, ``messages``, ``exception``. The agent gives up after
        ``timeout`` seconds; the call waits a little longer for its answer, never forever."""
        from jsbus.errors import TransportError
        raise TransportError("this transport has no dry run")

    def execution_status(self, agent: AgentInfo, execution_id: int,
                         attempt: int) -> dict[str, Any] | None:
        """Ask ``agent`` what it knows of ``execution_id`` at ``attempt``: its answer
        (``execution-id``, ``attempt``, ``state``, ``batch-status``), or None when it does not
        have it (and will refuse any later start of that id at an attempt up to ``attempt``:
        the bus may dispatch it again as the next attempt). Raises ``TransportError`` when the
        agent cannot be reached. This default cannot ask: it raises."""
        from jsbus.errors import TransportError
        raise TransportError("this transport cannot ask an agent about an execution")

    def close(self) -> None:
        """Release connections."""


@dataclass(frozen=True)
class AgentAddress:
    """An agent as discovery found it: where it listens and what it advertised."""

    instance_id: str
    host: str
    port: int
    properties: dict[str, str] = field(default_factory=dict)


class Browser(abc.ABC):
    """Bus side of discovery: calls ``on_found(AgentAddress)`` for each agent it finds."""

    @abc.abstractmethod
    def start(self) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...


class Advertiser(abc.ABC):
    """Agent side of discovery: makes one agent findable."""

    @abc.abstractmethod
    def register(self, instance_id: str, name: str, port: int, host: str,
                 properties: dict[str, str]) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...


@dataclass(frozen=True)
class NotifierBackend:
    """Delivers notifications (status notifications, time-monitor alerts) somewhere."""

    name: str
    factory: Callable[..., "Notifier"]  # factory(config) -> Notifier


class Notifier(abc.ABC):
    """One attempt at delivering one notification. The bus queues every notification in its
    storage and retries with backoff; the notifier only tries once, within its own timeout."""

    @abc.abstractmethod
    def send(self, delivery: Delivery) -> None:
        """Deliver ``delivery`` (its ``type`` is the routing key, its ``payload`` the body), or
        raise ``NotificationError`` saying why not (``permanent=True``: do not retry)."""

    def close(self) -> None:
        """Release connections; the default has none."""
