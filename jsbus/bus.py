"""The bus world: storage, plugins, transport and (on the leader) the actors.

``Bus(config).start()`` is called once per process, after any fork (gunicorn's
``post_worker_init``, the REPL's ``go()``, a test). The process that takes the storage's leader
lock runs the ControlBus (dispatching, lease checks, discovery); any other serves the API only
and keeps trying the lock, so a second worker or a second ``jsbus serve`` on the same database
never makes a second dispatcher.
"""
from __future__ import annotations

import logging
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pykka

from jsbus.actors.context import BusContext
from jsbus.agentauth import AgentTrustKeeper, revoke_active
from jsbus.actors.controlbus import ControlBus
from jsbus import control as execution_control
from jsbus.actors.messages import (AgentFound, AgentSeen, CalendarChanged, Dispatch,
                                   ExecutionChanged, GetJobActor, Restart, ScheduleChanged,
                                   StopExecution, Submit, Tick)
from jsbus.artifacts import ArtifactStore, Limits
from jsbus.auth.service import Auth
from jsbus.components import require_builtins
from jsbus.config import Config, artifact_dir, split_bind
from jsbus.errors import AgentNotFound
from jsbus.housekeeping import Housekeeper
from jsbus.model import AgentInfo, AgentStatus, BatchStatus, JobExecution, utcnow
from jsbus.notifications import DeliveryPump, NotificationMatcher
from jsbus.plugins import PluginHost
from jsbus.recorder import EventRecorder
from jsbus.recovery import check_policy, lost_agent
from jsbus.redact import redact_url
from jsbus.timekeeper import TimeKeeper
from jsbus.wire import Event

log = logging.getLogger(__name__)
ASK_TIMEOUT = 10.0


class Bus:
    def __init__(self, config: Config, plugins: PluginHost | None = None):
        self.config = config
        self.plugins = plugins or PluginHost(config)
        self.storage = self.plugins.storage()
        self.recorder = EventRecorder(self.storage,
                                      check_policy(config.get("recovery.policy")))
        self.auth = Auth(config, self.storage)
        self.artifacts = ArtifactStore(artifact_dir(config), Limits.from_config(config))
        self.bound: tuple[str, int] = split_bind(config.get("bus.bind"), 45102)
        self.control: pykka.ActorRef | None = None
        self.context: BusContext | None = None
        self._browser = None
        self._lock = None
        self._housekeeper: Housekeeper | None = None
        self._lead_guard = threading.Lock()
        self._resigned = False  # draining (SIGTERM): never lead again in this process
        self._pump: DeliveryPump | None = None
        self.notifications = NotificationMatcher(self.storage, self._wake_pump)
        self.plugins.pm.register(self.notifications, name="jsbus.notifications")
        self.timekeeper = TimeKeeper(self, self._wake_pump)
        self.started = threading.Event()
        self._job_refs: dict[tuple[str, str], pykka.ActorRef] = {}
        self.trust = AgentTrustKeeper(self)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self.storage.open()
        self.auth.bootstrap(self.config.get("bus.admin_password"))
        self.trust.start()  # the bus id; agents.bootstrap_join_token (development)
        self.context = BusContext(
            config=self.config, plugins=self.plugins, storage=self.storage,
            transport=self.plugins.transport(),
            io=ThreadPoolExecutor(max_workers=8, thread_name_prefix="bus-io"),
            bus_url_for=self.url_for)
        if hasattr(self.context.transport, "credentials"):  # commands to agents are signed
            self.context.transport.credentials = self.trust.credentials
        self._lock = self.storage.leader_lock()
        self._housekeeper = Housekeeper()
        self._housekeeper.every(self.config.get("dispatch.interval"), self._tick)
        self._housekeeper.every(self.config.get("bus.leader_retry"), self.try_lead)
        self._housekeeper.every(self.config.get("time_monitor.interval"), self._keep_time)
        self.plugins.notifier().close()  # a misconfigured notifier stops the start-up here
        self.try_lead()
        if not self.is_leader:
            log.warning("another bus process holds the leader lock on %s: this one serves the "
                        "API only and will take over if that one stops",
                        redact_url(str(getattr(self.storage, "url", ""))))
        self._housekeeper.start()
        self.started.set()

    def try_lead(self) -> None:
        with self._lead_guard:
            if self._resigned:
                return
            if self.control is not None:
                if not self._lock.verify():  # its session died: another process may lead now
                    log.error("the leader lock was lost (%s): this bus process stops "
                              "dispatching", redact_url(str(getattr(self.storage, "url", ""))))
                    self._stop_leading()
                return
            if not self._lock.try_acquire():
                return
            self.control = ControlBus.start(self.context)
            log.info("leader: this bus process schedules and dispatches (%s)",
                     redact_url(str(getattr(self.storage, "url", ""))))
            self._pump = DeliveryPump(self.config, self.storage, self.plugins.notifier()).start()
            if self.config.get("discovery.enabled"):
                self._start_discovery()

    def _start_discovery(self) -> None:
        backend = self.plugins.discovery()
        control = self.control
        self._browser = backend.browser(self.config,
                                        lambda address: control.tell(AgentFound(address)))
        self._browser.start()

    def _tick(self) -> None:
        if self.control is not None:
            self.control.tell(Tick())

    def _keep_time(self) -> None:
        if self.control is not None:
            self.timekeeper.sweep()

    def _wake_pump(self) -> None:
        if self._pump is not None:
            self._pump.wake()

    def _stop_leading(self) -> None:
        """Stop the leader's actors (dispatcher, scheduler), discovery and the delivery pump,
        then give the leader lock up, so that another bus process takes over."""
        if self._browser is not None:
            self._browser.close()
            self._browser = None
        if self._pump is not None:
            self._pump.stop()
            self._pump = None
        if self.control is not None:
            control, self.control = self.control, None
            self._job_refs.clear()
            try:
                control.stop(timeout=ASK_TIMEOUT)
            except pykka.Timeout:
                log.warning("the control bus did not stop within %ss", ASK_TIMEOUT)
        if self._lock is not None:
            self._lock.release()

    def resign(self) -> None:
        """Drain (SIGTERM): dispatch and schedule nothing more and release the leader lock for
        another bus process; the API keeps answering until the server stops."""
        with self._lead_guard:
            self._resigned = True
            was_leader = self.control is not None
            self._stop_leading()
        if was_leader:
            log.warning("draining: this bus process no longer dispatches or schedules; the "
                        "leader lock is released for another bus process")

    def stop(self) -> None:
        if self._housekeeper:
            self._housekeeper.stop()
        with self._lead_guard:
            self._stop_leading()
        if self.context is not None:
            self.context.io.shutdown(wait=True, cancel_futures=True)
            self.context.transport.close()
        self.storage.close()
        self.started.clear()

    @property
    def is_leader(self) -> bool:
        return self.control is not None

    @property
    def role(self) -> str:
        return "leader" if self.is_leader else "follower"

    def url_for(self, agent_host: str) -> str:
        """This bus's URL as ``agent_host`` reaches it (``bus.advertised_url`` wins)."""
        if self.config.get("bus.advertised_url"):
            return self.config.get("bus.advertised_url")
        host, port = self.bound
        if host in ("0.0.0.0", "::", ""):
            host = local_address_towards(agent_host)
        return f"http://{host}:{port}"

    # -- what the API asks of the bus ---------------------------------------------------------
    def submit(self, app: str, job: str, parameters: dict[str, str]) -> JobExecution:
        """Create an execution (durable before this returns); the leader dispatches it."""
        found = require_builtins(self.storage, app, job)  # 409: its application disabled them
        if found.exclusive and self.control is not None:
            # The job's actor decides, one submission at a time (one execution at a time).
            return self._ask_job(app, job, Submit(dict(parameters)))
        if found.exclusive:
            execution_control.check_exclusive(self.storage, app, job)
        # Nothing to decide: the row is written here (durable before the answer), and the
        # dispatcher hears of it (coalesced with the other submissions of a burst).
        execution = self.storage.create_execution(app, job, parameters, utcnow())
        if self.control is not None:
            self.control.tell(Dispatch())
        return execution

    def restart(self, app: str, job: str, execution_id: int,
                parameters: dict[str, str]) -> JobExecution:
        """A new execution of the instance of ``execution_id`` (JSR-352 restart)."""
        require_builtins(self.storage, app, job)
        if self.control is None:
            previous = self.storage.get_execution(execution_id, with_steps=False)
            execution_control.check_restart(self.storage, previous)
            return self.storage.create_execution(app, job, parameters, utcnow(),
                                                 restart_of=execution_id)
        return self._ask_job(app, job, Restart(execution_id, dict(parameters)))

    def _ask_job(self, app: str, job: str, message):
        """Ask the job's actor (its ref is kept: one ask, not two, per request); one that
        stopped (idle) meanwhile is asked for again, anew."""
        key = (app, job)
        for attempt in range(2):
            ref = self._job_refs.get(key) if attempt == 0 else None
            if ref is None:
                ref = self._job_refs[key] = self.control.ask(GetJobActor(app, job),
                                                             timeout=ASK_TIMEOUT)
            try:
                return ref.ask(message, timeout=ASK_TIMEOUT)
            except pykka.ActorDeadError:
                self._job_refs.pop(key, None)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def schedule_changed(self, app: str, job: str) -> None:
        """Plan the schedule of (app, job) again (a follower's leader resyncs by itself)."""
        if self.control is not None:
            self.control.tell(ScheduleChanged(app, job))

    def calendar_changed(self, name: str) -> None:
        if self.control is not None:
            self.control.tell(CalendarChanged(name))

    def stop_execution(self, execution: JobExecution) -> JobExecution:
        after, needs_agent = execution_control.stop(self.storage, execution)
        self._changed(after, execution.batch_status)
        if needs_agent and self.control is not None:
            self.control.tell(StopExecution(after.id, after.agent_id))
        return after

    def abandon_execution(self, execution: JobExecution) -> JobExecution:
        after = execution_control.abandon(self.storage, execution)
        self._changed(after, execution.batch_status)
        return after

    def _changed(self, execution: JobExecution, previous) -> None:
        if execution.batch_status is previous:
            return
        self.plugins.notify("jsbus_execution_status_changed", execution=execution,
                            previous=previous)
        if self.control is not None and ExecutionChanged.frees_a_place(execution.batch_status):
            self.control.tell(ExecutionChanged(execution, previous))

    def moved(self, agent_id: str, running: list[tuple[int, int]]) -> list[list[int]]:
        """Of the [execution id, attempt] pairs an agent says it runs, those the bus no longer
        gives it at that attempt (moved, ended, or unknown): the agent stops them."""
        found = self.storage.get_executions({execution_id for execution_id, _ in running})
        moved = []
        for execution_id, attempt in running:
            execution = found.get(execution_id)
            if (execution is None or execution.agent_id != agent_id
                    or execution.attempt != attempt or execution.batch_status.is_final
                    or execution.batch_status in (BatchStatus.UNDISPATCHED,
                                                  BatchStatus.UNRESTARTED)):
                moved.append([execution_id, attempt])
        if moved:
            log.warning("agent %s runs executions the bus no longer gives it: %s (it is told "
                        "to stop them)", agent_id, moved)
        return moved

    def record_heartbeat(self, agent: AgentInfo, trusted: bool = True,
                         running: list[tuple[int, int]] | None = None,
                         draining: bool = False) -> dict[str, Any]:
        """Store a heartbeat: a trusted (signed, enrolled) agent is ready, any other pending
        (``jsbus.agentauth``). ``running``: the heartbeat's ``agent/executions``; the answer
        then says which of them were ``moved``."""
        try:
            previous = self.storage.get_agent(agent.instance_id)
        except AgentNotFound:
            previous = None
        status = AgentStatus.READY if trusted else AgentStatus.PENDING
        stored = self.storage.save_agent(replace(agent, status=status))
        if not trusted:
            if previous is not None and previous.status is AgentStatus.READY \
                    and self.control is not None:
                self.control.tell(AgentSeen(stored))
            return {"heartbeat-interval": max(1.0, self.config.get("agents.lease") / 3),
                    "lease": self.config.get("agents.lease"), "agent/status": status.value}
        if previous is None or previous.status is not AgentStatus.READY:
            log.info("agent %s (%s) joined from %s:%s", stored.name, stored.instance_id,
                     stored.host, stored.port)
            self.plugins.notify("jsbus_agent_joined", agent=stored)
        if self.control is not None:
            self.control.tell(AgentSeen(stored, draining))
        answer = {"heartbeat-interval": max(1.0, self.config.get("agents.lease") / 3),
                  "lease": self.config.get("agents.lease"), "agent/status": status.value}
        if running is not None:
            answer["moved"] = self.moved(stored.instance_id, running)
        return answer

    def record_events(self, agent_id: str, events: list[Event]) -> int:
        self.receive_events(agent_id, events)
        return len(events)

    def receive_events(self, agent_id: str, events: list[Event]) -> dict[str, Any]:
        """Apply a batch of an agent's events: ``{"applied": n, "refused": [seq, ...]}`` (the
        agent drops the refused ones: ``jsbus.recorder``)."""
        outcome = self.recorder.record(agent_id, events)
        for execution, previous in outcome.transitions:
            self._changed(execution, previous)
        return {"applied": outcome.applied, "refused": outcome.refused}

    def agent_revoked(self, agent: AgentInfo) -> None:
        """After ``trust.revoke``: its executions become unknown, then follow the recovery
        policy as a lost agent's (``jsbus.recovery``); the dispatcher forgets it."""
        revoke_active(self, agent)
        for execution, previous in lost_agent(self.storage, self.recorder.policy,
                                              agent.instance_id, "revoked"):
            self._changed(execution, previous)
        if self.control is not None:
            self.control.tell(AgentSeen(agent))

    def set_agent_blocked(self, instance_id: str, blocked: bool) -> AgentInfo:
        """Block or unblock an agent. Stored, so the leader sees it at its next tick whichever
        process it runs in; when this process leads, its dispatcher hears of it at once."""
        agent = self.storage.set_agent_blocked(instance_id, blocked)
        if self.control is not None and agent.status is AgentStatus.READY:
            self.control.tell(AgentSeen(agent))
        return agent


def local_address_towards(host: str) -> str:
    """The local address the kernel would use to reach ``host``: a UDP ``connect`` picks the
    route without sending a packet."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((host, 9))
            return probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"
