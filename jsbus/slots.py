"""What happens to one fire slot: it fires (once: the ledger row is claimed first), or it gets a
ledger row that says why it did not. Used by the Scheduler actor; pure storage calls, no waits.
"""
from __future__ import annotations

import logging
from datetime import datetime

from jsbus.model import (WAITING_STATUSES, FireSlot, MisfirePolicy, OverlapPolicy, Schedule,
                         SlotStatus)
from jsbus.storage import Storage

log = logging.getLogger(__name__)


class SlotKeeper:
    def __init__(self, storage: Storage, max_catch_up: int):
        self.storage = storage
        self.max_catch_up = max_catch_up

    def miss(self, schedule: Schedule, slot: datetime, reason: str, now: datetime) -> None:
        self.storage.record_slot(FireSlot(schedule.app, schedule.job, slot, SlotStatus.MISSED,
                                          reason=reason, recorded_at=now))

    def fire(self, schedule: Schedule, slot: datetime, now: datetime, *,
             not_before: datetime | None, note: str | None = None) -> int | None:
        """Claim the slot, apply the overlap policy, create the execution; its id or None."""
        storage, app, job = self.storage, schedule.app, schedule.job
        if not storage.claim_slot(app, job, slot, now):
            return None  # another bus process fired or recorded this slot: never twice
        blocked = self._overlap(schedule)
        if blocked:
            storage.set_slot_outcome(app, job, slot, status=SlotStatus.MISSED, reason=blocked)
            return None
        execution = storage.create_execution(app, job, {}, now, not_before=not_before, slot=slot)
        storage.set_slot_outcome(app, job, slot, execution_id=execution.id, reason=note)
        return execution.id

    def _overlap(self, schedule: Schedule) -> str | None:
        if schedule.overlap_policy is OverlapPolicy.ALLOW:
            return None
        active = self.storage.active_executions(schedule.app, schedule.job)
        if schedule.overlap_policy is OverlapPolicy.SKIP and active:
            return f"overlap: execution {active[0].id} is still {active[0].batch_status.value}"
        waiting = [e for e in active if e.batch_status in WAITING_STATUSES]
        if schedule.overlap_policy is OverlapPolicy.QUEUE_ONE and waiting:
            return f"overlap: execution {waiting[0].id} already waits to run"
        return None

    def catch_up(self, schedule: Schedule, missed: list[datetime], now: datetime) -> list[int]:
        """Slots that passed while no bus fired them, by the schedule's misfire policy."""
        if not missed:
            return []
        policy, fired = schedule.misfire_policy, []
        if policy is MisfirePolicy.FIRE_ALL:
            to_fire, to_record = missed[:self.max_catch_up], missed[self.max_catch_up:]
        elif policy is MisfirePolicy.FIRE_ONCE_NOW:
            to_fire, to_record = missed[-1:], missed[:-1]
        else:
            to_fire, to_record = [], missed
        reason = "misfire: no bus was running at the slot"
        for slot in to_record:
            self.miss(schedule, slot, f"{reason} (policy {policy.value})", now)
        for slot in to_fire:
            execution_id = self.fire(schedule, slot, now, not_before=None,
                                     note=f"late: fired at {now.isoformat()} ({reason}; policy "
                                          f"{policy.value})")
            if execution_id is not None:
                fired.append(execution_id)
        if missed:
            log.warning("schedule %s/%s missed %d slot(s) while no bus ran; %s: fired %d",
                        schedule.app, schedule.job, len(missed), policy.value, len(fired))
        return fired
