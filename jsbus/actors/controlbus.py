"""The ControlBus actor: owns the Agent and Job actors and decides where work runs.

Storage is the truth; this actor keeps a view of it (agents, their running counts) that it
reconciles on every ``Tick`` and updates at once on every event, so a burst of dispatches spreads
over the agents instead of landing on the one that looked idle a minute ago.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import timedelta

import pykka

from jsbus.actors.agent import AgentActor
from jsbus.actors.base import SafeActor
from jsbus.actors.context import BusContext
from jsbus.actors.job import JobActor
from jsbus.actors.messages import (AgentFound, AgentSeen, CalendarChanged, Dispatch,
                                   DispatchFailed, ExecutionChanged, GetJobActor, Resync,
                                   ScheduleChanged, Settled, Snapshot, StartExecutions,
                                   StartsDelivered, StopExecution, Tick, UpdateAgent)
from jsbus.actors.scheduler import Scheduler
from jsbus import recovery
from jsbus.model import AgentInfo, AgentStatus, BatchStatus

log = logging.getLogger(__name__)
DISPATCH_CHUNK = 50  # executions claimed for one agent at a time
SUSPEND_SECONDS = 5.0
STOP_RESEND_SECONDS = 10.0


@dataclass
class AgentSlot:
    info: AgentInfo
    ref: pykka.ActorRef
    running: int = 0
    suspended_until: float = 0.0
    draining: bool = False  # its last heartbeat said so (it answers starts 503 meanwhile)

    def can_take(self, now: float) -> bool:
        """Ready, not blocked (a blocked agent keeps what it runs but gets nothing new), not
        suspended after a failed dispatch, and with room."""
        return (self.info.status is AgentStatus.READY and not self.info.blocked
                and not self.draining and self.suspended_until <= now
                and self.running < self.info.capacity)

    def load(self) -> tuple[float, float]:
        system = (self.info.stats.get("cpu") or {}).get("system") or {}
        load_average = system.get("load-average")
        return (self.running / self.info.capacity,
                load_average if isinstance(load_average, (int, float)) and load_average >= 0
                else float("inf"))


class ControlBus(SafeActor):
    def __init__(self, context: BusContext):
        super().__init__()
        self.context = context
        self.agents: dict[str, AgentSlot] = {}
        self.jobs: dict[tuple[str, str], pykka.ActorRef] = {}
        self.jobs_used: dict[tuple[str, str], float] = {}
        self.lease = timedelta(seconds=context.config.get("agents.lease"))
        self.idle_job_seconds = context.config.get("dispatch.idle_job_actor")
        self.stops_sent: dict[int, float] = {}  # execution id -> when its stop was last sent
        self.scheduler: pykka.ActorRef | None = None
        self.last_resync = time.monotonic()
        self.dispatch_due = False
        # A new leader gives every agent a full lease from its start: while no bus ran, none
        # could heartbeat (their last_seen is old), and that makes no agent lost.
        self.leading_since = context.clock()
        self.policy = recovery.check_policy(context.config.get("recovery.policy"))
        self.queue_watch = recovery.QueueWatch(
            context.storage, context.transport, self.policy,
            context.config.get("recovery.queued_timeouts")
            * context.config.get("agents.command_timeout"))

    def on_start(self) -> None:
        self.scheduler = Scheduler.start(self.context, self.actor_ref)
        self._settle_gone_agents()
        self._watch_queued(everything=True)  # what the leader before handed out
        self.on_tick(Tick())

    def on_stop(self) -> None:
        for ref in ([self.scheduler] + [slot.ref for slot in self.agents.values()]
                    + list(self.jobs.values())):
            ref.stop(block=False)

    def on_schedule_changed(self, message: ScheduleChanged) -> None:
        self.scheduler.tell(message)

    def on_calendar_changed(self, message: CalendarChanged) -> None:
        self.scheduler.tell(message)

    # -- agents -------------------------------------------------------------------------------
    def _slot(self, info: AgentInfo) -> AgentSlot:
        slot = self.agents.get(info.instance_id)
        if slot is None:
            ref = AgentActor.start(info, self.context, self.actor_ref)
            slot = self.agents[info.instance_id] = AgentSlot(info, ref)
        else:
            slot.info = info
            slot.ref.tell(UpdateAgent(info))
        return slot

    def on_agent_seen(self, message: AgentSeen) -> None:
        slot = self._slot(message.agent)
        slot.suspended_until = 0.0
        slot.draining = message.draining
        self._dispatch_soon()

    def on_agent_found(self, message: AgentFound) -> None:
        address = message.address
        known = self.agents.get(address.instance_id)
        if known is not None and known.info.status is AgentStatus.READY:
            return
        bus_url = self.context.bus_url_for(address.host)
        log.info("discovery found agent %s at %s:%s; inviting it to %s", address.instance_id,
                 address.host, address.port, bus_url)
        self.context.io.submit(self._invite, address, bus_url)

    def _invite(self, address, bus_url: str) -> None:
        """Runs on the I/O pool; the agent's first heartbeat completes the join."""
        try:
            self.context.transport.invite(address, bus_url)
        except Exception as exc:  # noqa: BLE001 - discovery retries on the next announcement
            log.warning("could not invite agent %s at %s:%s: %s", address.instance_id,
                        address.host, address.port, exc)

    def _reconcile(self) -> None:
        storage, now = self.context.storage, self.context.clock()
        running = storage.active_counts()
        for info in storage.list_agents():
            seen = max(info.last_seen or self.leading_since, self.leading_since)
            expired = now - seen > self.lease
            if info.status is AgentStatus.READY and expired:
                info = self._lose(info)
            if info.status is AgentStatus.READY or info.instance_id in self.agents:
                self._slot(info).running = running.get(info.instance_id, 0)

    def _lose(self, info: AgentInfo) -> AgentInfo:
        storage = self.context.storage
        lost = storage.save_agent(replace(info, status=AgentStatus.LOST))
        log.warning("agent %s (%s) missed its heartbeats for %ss: lost", info.name,
                    info.instance_id, self.lease.total_seconds())
        self._settled(recovery.lost_agent(storage, self.policy, info.instance_id))
        self.context.plugins.notify("jsbus_agent_lost", agent=lost)
        return lost

    # -- recovery (jsbus.recovery) ------------------------------------------------------------
    def _settle_gone_agents(self) -> None:
        """On the leader's start: what lost or revoked agents still hold (a leader that died
        before it settled them) is settled now."""
        storage = self.context.storage
        for info in storage.list_agents():
            if info.status in (AgentStatus.LOST, AgentStatus.REVOKED):
                self._settled(recovery.lost_agent(storage, self.policy, info.instance_id,
                                                  info.status.value))

    def _settled(self, transitions) -> None:
        for after, previous in transitions:
            self.context.status_changed(after, previous)
            self.on_execution_changed(ExecutionChanged(after, previous))

    def on_settled(self, message: Settled) -> None:
        self._settled(message.transitions)

    def on_starts_delivered(self, message: StartsDelivered) -> None:
        self.queue_watch.handed(message.execution_ids)

    def _watch_queued(self, everything: bool = False) -> None:
        for execution in self.queue_watch.due(everything):
            self.context.io.submit(self._ask_about, execution, self.actor_ref)

    def _ask_about(self, execution, me: pykka.ActorRef) -> None:
        """Runs on the I/O pool."""
        try:
            transitions = self.queue_watch.ask(execution)
        except Exception:  # noqa: BLE001 - asked again at a later tick
            log.exception("asking about queued execution %s failed", execution.id)
            return
        if transitions:
            try:
                me.tell(Settled(tuple(transitions)))
            except pykka.ActorDeadError:
                for after, previous in transitions:
                    self.context.status_changed(after, previous)

    # -- executions ---------------------------------------------------------------------------
    def _dispatch(self) -> None:
        """Claim waiting executions for the agents that can take them, in chunks, each chunk
        for the least loaded agent, and hand each agent's chunk to its actor in one message."""
        self.dispatch_due = False
        storage, now = self.context.storage, time.monotonic()
        while True:
            candidates = [slot for slot in self.agents.values() if slot.can_take(now)]
            if not candidates:
                return
            slot = min(candidates, key=AgentSlot.load)
            room = min(slot.info.capacity - slot.running, DISPATCH_CHUNK)
            claimed = storage.claim_executions(slot.info.instance_id, self.context.clock(), room)
            if not claimed:
                return
            slot.running += len(claimed)
            for execution in claimed:
                self.context.status_changed(execution, BatchStatus.UNDISPATCHED)
            slot.ref.tell(StartExecutions(tuple(claimed)))
            if len(claimed) < room:
                return

    def _dispatch_soon(self) -> None:
        """Coalesce: a burst of messages that each free a place makes one dispatch, after them."""
        if not self.dispatch_due:
            self.dispatch_due = True
            self.actor_ref.tell(Dispatch(now=True))

    def on_stop_execution(self, message: StopExecution) -> None:
        slot = self.agents.get(message.agent_id or "")
        self.stops_sent[message.execution_id] = time.monotonic()
        if slot is not None:
            slot.ref.tell(message)

    def _resend_stops(self) -> None:
        """Stops asked through any bus process reach the agent, and again until they end."""
        now, stopping = time.monotonic(), set()
        for execution in self.context.storage.executions_in((BatchStatus.STOPPING,)):
            stopping.add(execution.id)
            if now - self.stops_sent.get(execution.id, 0.0) > STOP_RESEND_SECONDS:
                self.on_stop_execution(StopExecution(execution.id, execution.agent_id))
        self.stops_sent = {key: value for key, value in self.stops_sent.items()
                           if key in stopping}

    def on_dispatch(self, message: Dispatch) -> None:
        if message.now:
            self._dispatch()
        else:
            self._dispatch_soon()

    def on_execution_changed(self, message: ExecutionChanged) -> None:
        execution = message.execution
        if not ExecutionChanged.frees_a_place(execution.batch_status):
            return  # starting, started...: nothing freed, nothing to dispatch
        # A moved execution has no agent any more: its old agent's count is put right at the
        # next tick (``_reconcile``).
        slot = self.agents.get(execution.agent_id or "")
        if slot is not None:
            slot.running = max(0, slot.running - 1)
        self._dispatch_soon()

    def on_dispatch_failed(self, message: DispatchFailed) -> None:
        slot = self.agents.get(message.agent_id)
        if slot is not None:
            slot.running = max(0, slot.running - 1)
            slot.suspended_until = time.monotonic() + SUSPEND_SECONDS

    # -- jobs ---------------------------------------------------------------------------------
    def on_get_job_actor(self, message: GetJobActor) -> pykka.ActorRef:
        key = (message.app, message.job)
        ref = self.jobs.get(key)
        if ref is None or not ref.is_alive():
            ref = self.jobs[key] = JobActor.start(message.app, message.job, self.context,
                                                  self.actor_ref)
        self.jobs_used[key] = time.monotonic()
        return ref

    def _reap_idle_jobs(self) -> None:
        # A caller that got a ref just before it stops sees ActorDeadError and asks again.
        now = time.monotonic()
        for key, ref in list(self.jobs.items()):
            if now - self.jobs_used.get(key, 0.0) > self.idle_job_seconds:
                del self.jobs[key]
                self.jobs_used.pop(key, None)
                ref.stop(block=False)

    def on_tick(self, message: Tick) -> None:
        self._reconcile()
        self._resend_stops()
        self._watch_queued()
        resync = self.context.config.get("scheduler.resync")
        if time.monotonic() - self.last_resync > resync:
            self.last_resync = time.monotonic()
            self.scheduler.tell(Resync())
        self._dispatch()
        self._reap_idle_jobs()

    def on_snapshot(self, message: Snapshot) -> dict:
        return {"agents": {key: {"running": slot.running, "status": slot.info.status.value}
                           for key, slot in self.agents.items()},
                "jobs": sorted("/".join(key) for key in self.jobs)}
