"""Backend records that plugins register, and the small interfaces behind them.

The storage interface is in ``jsbus.storage``. Everything here is plain Python so that a
plugin author needs nothing else to write a backend.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Callable

from jsbus.model import AgentInfo, JobDefinition, StartCommand


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
