"""Every pluggy hook of jsbus, grouped by phase. Each hook is public API: keep the set small.

Built-in backends are plugins too (``plugins/``, import name ``jsbus_plugins``), loaded through
the ``jsbus`` entry-point group exactly like third-party ones. Hooks are called with keyword
arguments only. ``docs/plugins.md`` documents each hook; a test keeps the two in step.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from jsbus.backends import (ComponentScanner, DiscoveryBackend, JobParser,
                                NotifierBackend, StorageBackend, TransportBackend)
    from jsbus.config import Config
    from jsbus.model import AgentInfo, BatchStatus, JobExecution

PROJECT = "jsbus"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --- Phase 1: registration (called once while the plugin host starts) -----------------------

@hookspec
def jsbus_register_storage(config: Config) -> list[StorageBackend] | None:
    """Offer storage backends.

    Called once at start-up, for every plugin. Return a list of :class:`StorageBackend`
    records (a name and a factory taking the config); ``None`` offers nothing. The backend
    used is the one named by ``plugins.storage`` in the config. Two records with one name, from
    any plugins, stop the start-up with an error.
    """


@hookspec
def jsbus_register_transport(config: Config) -> list[TransportBackend] | None:
    """Offer transports: how the bus sends commands to agents.

    Called once at start-up. Return :class:`TransportBackend` records; ``None`` offers nothing.
    ``plugins.transport`` in the config picks one by name. A transport may build on the
    built-in one by subclassing ``jsbus_plugins.transport_http.HttpTransport``.
    """


@hookspec
def jsbus_register_discovery(config: Config) -> list[DiscoveryBackend] | None:
    """Offer discovery backends: how the bus finds agents and how agents advertise.

    Called once at start-up, on the bus and on every agent. Return :class:`DiscoveryBackend`
    records; ``None`` offers nothing. ``plugins.discovery`` in the config picks one by name.
    """


@hookspec
def jsbus_register_job_parsers(config: Config) -> list[JobParser] | None:
    """Offer job-document parsers, each for one or more media types.

    Called once at start-up. Return :class:`JobParser` records; ``None`` offers nothing. A job
    registered with ``Content-Type: <media type>`` is parsed by the parser that claims it; two
    parsers claiming one media type stop the start-up with an error.
    """


@hookspec
def jsbus_register_scanners(config: Config) -> list[ComponentScanner] | None:
    """Offer batch-component scanners, each for the classpath entries of one language.

    Called once at start-up. Return :class:`ComponentScanner` records; ``None`` offers nothing.
    Every scanner runs over every deployed classpath (each skips the entries it does not read);
    ``GET /{app}/batch-components`` lists what they found together.
    """


@hookspec
def jsbus_register_notifiers(config: Config) -> list[NotifierBackend] | None:
    """Offer notifiers: how status notifications and time-monitor alerts are delivered.

    Called once at start-up. Return :class:`NotifierBackend` records; ``None`` offers nothing.
    ``plugins.notifier`` in the config picks one by name (the built-in is ``webhook``). The
    bus queues every notification in its storage and calls the notifier's ``send`` once per
    attempt, from a thread of its own, retrying with backoff; a notifier never retries itself.
    """


# --- Phase 2: lifecycle events (called while the bus runs; results are ignored) ---------------

@hookspec
def jsbus_execution_status_changed(execution: JobExecution, previous: BatchStatus) -> None:
    """An execution moved from ``previous`` to ``execution.batch_status``.

    Called once per transition, after the new status is stored, on the bus process that stored
    it. Must return quickly and not raise: it runs on the bus's event path (hand slow work,
    such as sending mail, to a thread of your own). The return value is ignored.
    """


@hookspec
def jsbus_agent_joined(agent: AgentInfo) -> None:
    """An agent became ready: its first heartbeat, or its first one after it was lost.

    Called once per join, on the bus process that stored the heartbeat. The return value is
    ignored.
    """


@hookspec
def jsbus_agent_lost(agent: AgentInfo) -> None:
    """An agent's heartbeats stopped for longer than its lease; it gets no more work.

    Called on the leader bus process, once per loss. The return value is ignored.
    """
