"""The Scheduler actor: one heap of next fire times for every schedule, and an alarm set for the
earliest. No polling decides when cron fires: the plan (``jsbus.cron``) computes each next slot
exactly, and the actor wakes ``scheduler.lead`` seconds before it to hand the execution to an
agent in time (the agent starts it at the slot, not before: ``not_before``).

Each slot is claimed in the ledger before its execution is created, so a slot fires at most once
across restarts and bus processes; a slot that does not fire gets a ledger row with the reason.
"""
from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pykka

from jsbus.actors.alarm import Alarm
from jsbus.actors.base import SafeActor
from jsbus.actors.context import BusContext
from jsbus.actors.messages import (CalendarChanged, Dispatch, Resync, ScheduleChanged, Snapshot,
                                   Wake)
from jsbus.errors import ScheduleNotFound
from jsbus.model import AgentStatus, Schedule
from jsbus.scheduling import plan_for
from jsbus.slots import SlotKeeper

log = logging.getLogger(__name__)
FULL_RESYNC_EVERY = 12  # resyncs (scheduler.resync seconds each): a full read at least this often


@dataclass(order=True)
class Due:
    wake: float  # UTC timestamp to wake at (slot - lead)
    generation: int
    key: tuple[str, str] = field(compare=False)
    fire: object = field(compare=False)  # jsbus.cron.plan.Fire


@dataclass
class Planned:
    schedule: Schedule
    plan: object  # jsbus.cron.plan.SchedulePlan
    generation: int


class Scheduler(SafeActor):
    def __init__(self, context: BusContext, parent: pykka.ActorRef):
        super().__init__()
        self.context, self.parent = context, parent
        config = context.config
        self.lead = timedelta(seconds=config.get("scheduler.lead"))
        self.threshold = timedelta(seconds=config.get("scheduler.misfire_threshold"))
        self.keeper = SlotKeeper(context.storage, config.get("scheduler.max_catch_up"))
        self.planned: dict[tuple[str, str], Planned] = {}
        self.heap: list[Due] = []
        self.generation = 0
        self.alarm: Alarm | None = None
        self.fired = 0
        self.agents_ready = True
        self.fingerprint = None  # of the schedules last read (storage.schedules_fingerprint)
        self.resyncs = 0

    def on_start(self) -> None:
        self.alarm = Alarm(self.actor_ref, Wake())
        self.fingerprint = self.context.storage.schedules_fingerprint()  # before the read
        for schedule in self.context.storage.list_schedules():
            self._plan(schedule, recover=True)
        self._arm()

    def on_stop(self) -> None:
        if self.alarm is not None:
            self.alarm.cancel()

    # -- planning -----------------------------------------------------------------------------
    def _plan(self, schedule: Schedule, recover: bool) -> None:
        key = (schedule.app, schedule.job)
        try:
            plan = plan_for(self.context.storage, schedule)
        except Exception as exc:  # noqa: BLE001 - one bad schedule must not stop the others
            log.error("schedule %s/%s cannot be planned: %s", *key, exc)
            self.planned.pop(key, None)
            return
        self.generation += 1
        self.planned[key] = Planned(schedule, plan, self.generation)
        now = self.context.clock()
        after = schedule.last_slot or schedule.created_at or now
        if recover and not schedule.paused:
            after = self._recover(schedule, plan, after, now)
        self._push(self.planned[key], max(after, now - self.threshold))

    def _recover(self, schedule: Schedule, plan, after: datetime, now: datetime) -> datetime:
        """Slots that passed unfired (the bus was down), by the misfire policy."""
        missed = [fire.slot for fire in plan.between(after, now - self.threshold)]
        if self.keeper.catch_up(schedule, missed, now):
            self.parent.tell(Dispatch())
        if missed:
            self.context.storage.advance_schedule(schedule.app, schedule.job, missed[-1])
            return missed[-1]
        return after

    def _push(self, planned: Planned, after: datetime) -> None:
        upcoming = planned.plan.preview(after, 1)
        if not upcoming:
            return
        fire = upcoming[0]
        wake = (fire.slot - self.lead).timestamp()
        key = (planned.schedule.app, planned.schedule.job)
        heapq.heappush(self.heap, Due(wake, planned.generation, key, fire))

    def _arm(self) -> None:
        while self.heap and not self._current(self.heap[0]):
            heapq.heappop(self.heap)
        if self.heap:
            self.alarm.set(self.heap[0].wake - self.context.clock().timestamp())

    def _current(self, due: Due) -> bool:
        planned = self.planned.get(due.key)
        return planned is not None and planned.generation == due.generation

    # -- firing -------------------------------------------------------------------------------
    def on_wake(self, message: Wake) -> None:
        now = self.context.clock()
        self.agents_ready = any(agent.status is AgentStatus.READY and not agent.blocked
                                for agent in self.context.storage.list_agents())
        due: list[Due] = []
        while self.heap and self.heap[0].wake <= now.timestamp():
            head = heapq.heappop(self.heap)
            if self._current(head):
                due.append(head)
        try:  # the slots of one instant: one transaction, one commit
            with self.context.storage.batch():
                fired_any = self._fire(due, now)
        except Exception:  # noqa: BLE001 - nothing was written: fire them one at a time
            log.exception("firing %d slot(s) in one transaction failed; firing them one by one",
                          len(due))
            fired_any = False
            for head in due:
                try:
                    fired_any |= self._fire([head], now)
                except Exception:  # noqa: BLE001 - one bad slot must not stop the others
                    log.exception("slot %s of %s/%s could not be fired", head.fire.slot,
                                  *head.key)
        for head in due:  # each schedule goes on to its next slot, whatever happened
            self._push(self.planned[head.key], head.fire.slot)
        if fired_any:
            self.parent.tell(Dispatch())
        self._arm()

    def _fire(self, due: list[Due], now: datetime) -> bool:
        fired_any = False
        for head in due:
            fired_any |= self._slot(self.planned[head.key].schedule, head.fire, now)
            self.context.storage.advance_schedule(*head.key, head.fire.slot)
        return fired_any

    def _slot(self, schedule: Schedule, fire, now: datetime) -> bool:
        if fire.excluded:
            self.keeper.miss(schedule, fire.slot, f"calendar {schedule.calendar}: not a "
                                                  "business day", now)
            return False
        if schedule.paused:
            self.keeper.miss(schedule, fire.slot, "paused", now)
            return False
        if fire.moved_from is not None:
            self.keeper.miss(schedule, fire.moved_from, f"calendar {schedule.calendar}: moved "
                                                        f"to {fire.slot.isoformat()}", now)
        late = now > fire.slot
        note = None if self.agents_ready else "no agent was ready: the execution waits for one"
        execution_id = self.keeper.fire(schedule, fire.slot, now,
                                        not_before=None if late else fire.slot, note=note)
        self.fired += execution_id is not None
        return execution_id is not None

    # -- changes ------------------------------------------------------------------------------
    def on_schedule_changed(self, message: ScheduleChanged) -> None:
        key = (message.app, message.job)
        try:
            schedule = self.context.storage.get_schedule(*key)
        except ScheduleNotFound:
            self.planned.pop(key, None)
        else:
            self._plan(schedule, recover=False)
        self._arm()

    def on_calendar_changed(self, message: CalendarChanged) -> None:
        for schedule in self.context.storage.list_schedules(calendar=message.name):
            self._plan(schedule, recover=False)
        self._arm()

    def on_resync(self, message: Resync) -> None:
        """Pick up schedules changed through another bus process (which only wrote storage).
        Their fingerprint (count, latest change) is read first: when it has not moved, nothing
        is read, but for a full read every ``FULL_RESYNC_EVERY`` resyncs all the same (a
        change stamped by a clock behind this one's)."""
        storage = self.context.storage
        self.resyncs += 1
        fingerprint = storage.schedules_fingerprint()
        if (fingerprint is not None and fingerprint == self.fingerprint
                and self.resyncs % FULL_RESYNC_EVERY):
            return
        self.fingerprint = fingerprint
        stored = {(s.app, s.job): s for s in storage.list_schedules()}
        for key in set(self.planned) - set(stored):
            del self.planned[key]
        for key, schedule in stored.items():
            known = self.planned.get(key)
            if known is None or known.schedule.updated_at != schedule.updated_at:
                self._plan(schedule, recover=known is None)
        self._arm()

    def on_snapshot(self, message: Snapshot) -> dict:
        return {"schedules": sorted("/".join(key) for key in self.planned),
                "fired": self.fired,
                "next": [{"job": "/".join(d.key), "slot": d.fire.slot.isoformat()}
                         for d in sorted(self.heap)[:10] if self._current(d)]}
