"""Scheduling precision: N jobs firing every second for S seconds, jsbus beside APScheduler 3.

jsbus side: a real bus and a real agent on loopback; each job's batchlet (``bench_batch.Stamp``)
records the wall time at which its code started as its exit status. APScheduler side, in the
same run once the bus is stopped (so neither competes with the other for the cores): an
in-process ``BackgroundScheduler`` with the same number of jobs on ``CronTrigger(second='*')``
whose function records the wall time at which it started. On both sides, lateness is the time
from the slot (the whole second it was due) to the start of the job's code.

Missed: jsbus, a ledger row saying ``missed`` or a slot with no ledger row; APScheduler,
``EVENT_JOB_MISSED`` / ``EVENT_JOB_MAX_INSTANCES`` or a slot with no run. Duplicated: a slot run
twice. Figures, not assertions. Loopback only; every process it starts is stopped after.

    python -m bench.scheduling [--quick] [--sched-jobs 200] [--sched-seconds 60]
"""
from __future__ import annotations

import argparse
import json
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime

from bench.common import cpu_seconds, machine, running_bus, spread, versions, wait_until

TITLE = "scheduling precision: jsbus beside APScheduler"


def when(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def worst_slots(pairs: list[tuple[float, float]], start: float, top: int = 3) -> list[list]:
    """The ``top`` slots with the latest run: [second in the window, max ms, median ms]: tells
    one bad second (a stall of the machine) from a steady lateness."""
    by_slot: dict[float, list[float]] = defaultdict(list)
    for slot, begun in pairs:
        by_slot[slot].append(begun - slot)
    ranked = sorted(by_slot.items(), key=lambda item: -max(item[1]))[:top]
    return [[int(slot - start), round(1000 * max(v), 1), round(1000 * sorted(v)[len(v) // 2], 1)]
            for slot, v in ranked]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("scheduling")
    group.add_argument("--sched-jobs", type=int, help="jobs firing every second (200; quick 20)")
    group.add_argument("--sched-seconds", type=int, help="window in seconds (60; quick 15)")
    group.add_argument("--sched-lead", type=float, default=1.5,
                       help="JSBUS_SCHEDULER_LEAD: how early the bus hands a slot to the agent")
    group.add_argument("--sched-ap-threads", type=int, default=10,
                       help="APScheduler ThreadPoolExecutor size (10, its default)")


def sizes(args) -> tuple[int, int]:
    quick = getattr(args, "quick", False)
    return (args.sched_jobs or (20 if quick else 200),
            args.sched_seconds or (15 if quick else 60))


# --- jsbus ----------------------------------------------------------------------------------

def collect(client, jobs: int, start: float, end: float) -> dict:
    pairs, missed, duplicated, fired, claimed = [], 0, 0, 0, 0
    for n in range(jobs):
        job = f"J{n:03d}"
        rows = client.get(f"/bench/job/{job}/schedule/history", params={"limit": 1000}).json()
        window = [r for r in rows["results"] if start <= when(r["fire-slot/time"]) < end]
        missed += sum(r["fire-slot/status"] == "missed" for r in window)
        claimed += sum(r["fire-slot/status"] == "fired" for r in window)
        missed += max(0, int(end - start) - len(window))  # slots with no ledger row at all
        runs = client.get(f"/bench/job/{job}/executions", params={"limit": 1000}).json()
        slots = Counter(e["job-execution/slot"] for e in runs["results"]
                        if e["job-execution/slot"] and start <= when(e["job-execution/slot"]) < end)
        duplicated += sum(count - 1 for count in slots.values())
        for execution in runs["results"]:
            slot, status = execution["job-execution/slot"], execution["job-execution/exit-status"]
            if slot and start <= when(slot) < end and status and status[0].isdigit():
                pairs.append((when(slot), float(status)))
                fired += 1
    return {"pairs": pairs, "missed": missed, "duplicated": duplicated, "fired": fired,
            "claimed": claimed}


def run_jsbus(jobs: int, seconds: int, lead: float) -> dict:
    env = {"JSBUS_SCHEDULER_LEAD": str(lead), "JSBUS_SCHEDULER_MISFIRE_THRESHOLD": "5"}
    capacity = max(8, int(jobs * (lead + 2)))
    with running_bus(agents=1, env=env, capacity=capacity) as bus:
        client = bus.client
        bus.deploy()
        for n in range(jobs):
            bus.add_job(f"J{n:03d}", "Stamp")
        for n in range(jobs):
            client.post(f"/bench/job/J{n:03d}/schedule",
                        json={"schedule/cron-notation": "* * * * * ?"}).raise_for_status()
        start = float(int(time.time()) + 3)  # the window starts at a whole second
        end = start + seconds
        wait_until(lambda: time.time() > start, 10, interval=0.05, what="the window")
        pids = {"bus": bus.pid, "agent": bus.agents[0].popen.pid}
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        wait_until(lambda: time.time() > end, seconds + 10, interval=0.5,
                   what="the window to pass")
        cpu = {name: (cpu_seconds(pid) - before[name]) / seconds for name, pid in pids.items()}
        for n in range(jobs):
            client.put(f"/bench/job/J{n:03d}/schedule/pause")
        deadline = time.time() + 120
        while time.time() < deadline:  # let the last executions finish (bounded)
            if client.get("/agents").json()[0]["agent/jobs"]["running"] == 0:
                break
            time.sleep(0.5)
        figures = collect(client, jobs, start, end)
    pairs = figures.pop("pairs")
    return {"slots_fired_in_ledger": figures["claimed"],
            "executions_measured": figures["fired"], "missed": figures["missed"],
            "duplicated": figures["duplicated"],
            "lateness_ms": spread([begun - slot for slot, begun in pairs]),
            "worst_slots_s_max_median_ms": worst_slots(pairs, start),
            **{f"cpu_cores_used_{k}": round(v, 3) for k, v in cpu.items()},
            **{f"cpu_ms_per_slot_{k}": round(1000 * v / jobs, 2) for k, v in cpu.items()},
            "settings": {"lead_s": lead, "misfire_threshold_s": 5, "agent_capacity": capacity}}


# --- APScheduler ----------------------------------------------------------------------------

def run_apscheduler(jobs: int, seconds: int, threads: int) -> dict:
    from apscheduler.events import (EVENT_JOB_ERROR, EVENT_JOB_EXECUTED,
                                    EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED)
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger

    starts: dict[str, list[float]] = defaultdict(list)
    executed: dict[str, list[float]] = defaultdict(list)
    skipped: list[float] = []
    errors: list[float] = []
    lock = threading.Lock()

    def stamp(job_id: str) -> None:  # the job's code: its first act is to read the clock
        now = time.time()
        with lock:
            starts[job_id].append(now)

    def listener(event) -> None:
        slot = event.scheduled_run_time.timestamp()
        with lock:
            if event.code == EVENT_JOB_EXECUTED:
                executed[event.job_id].append(slot)
            elif event.code == EVENT_JOB_ERROR:
                errors.append(slot)
            else:
                skipped.append(slot)

    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(threads)},
        job_defaults={"coalesce": False, "max_instances": 3, "misfire_grace_time": 5})
    scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED
                           | EVENT_JOB_MAX_INSTANCES)
    for n in range(jobs):
        scheduler.add_job(stamp, CronTrigger(second="*"), args=[f"J{n:03d}"], id=f"J{n:03d}")
    start = float(int(time.time()) + 3)
    end = start + seconds
    scheduler.start()
    try:
        wait_until(lambda: time.time() > start, 10, interval=0.05, what="the window")
        cpu_before = time.process_time()  # the whole benchmark process: the scheduler and jobs
        wait_until(lambda: time.time() > end, seconds + 10, interval=0.5,
                   what="the window to pass")
        cpu = (time.process_time() - cpu_before) / seconds
        time.sleep(1.0)  # the last slot's runs finish (they take microseconds)
    finally:
        scheduler.shutdown(wait=True)
    late, every, duplicated, missed, measured = [], [], 0, 0, 0
    for n in range(jobs):
        job = f"J{n:03d}"
        # a job's runs take microseconds, so its starts and its slots pair up in order
        pairs = [(s, t) for s, t in zip(sorted(executed[job]), sorted(starts[job]))
                 if start <= s < end]
        late += [t - s for s, t in pairs]
        every += pairs
        measured += len(pairs)
        slots = Counter(s for s, _ in pairs)
        duplicated += sum(count - 1 for count in slots.values())
        missed += max(0, seconds - len(slots))  # includes skipped and errored slots
    skipped_in = sum(start <= s < end for s in skipped)
    return {"runs_measured": measured, "missed": missed,
            "missed_or_skipped_events": skipped_in,
            "errors": sum(start <= s < end for s in errors), "duplicated": duplicated,
            "unpaired_starts": sum(len(v) for v in starts.values())
            - sum(len(v) for v in executed.values()),
            "lateness_ms": spread(late),
            "worst_slots_s_max_median_ms": worst_slots(every, start),
            "cpu_cores_used_process": round(cpu, 3),
            "cpu_ms_per_slot_process": round(1000 * cpu / jobs, 2),
            "settings": {"scheduler": "BackgroundScheduler, MemoryJobStore",
                         "executor": f"ThreadPoolExecutor({threads})",
                         "job_defaults": {"coalesce": False, "max_instances": 3,
                                          "misfire_grace_time": 5},
                         "trigger": "CronTrigger(second='*')",
                         "slot": "JobExecutionEvent.scheduled_run_time"}}


# --- both -----------------------------------------------------------------------------------

def run(args) -> dict:
    jobs, seconds = sizes(args)
    jsbus = run_jsbus(jobs, seconds, args.sched_lead)
    aps = run_apscheduler(jobs, seconds, args.sched_ap_threads)
    p99, ap99 = jsbus["lateness_ms"]["p99"], aps["lateness_ms"]["p99"]
    both = p99 is not None and ap99 is not None

    def target(text, value, limit, met):
        return {"target": text, "value": value, "limit": limit, "met": met}

    return {
        "benchmark": TITLE,
        "settings": {"jobs": jobs, "seconds": seconds, "slots": jobs * seconds,
                     "quick": bool(getattr(args, "quick", False)),
                     "lateness": "slot (whole second due) -> start of the job's code",
                     "order": "jsbus first, then APScheduler once the bus is stopped",
                     "jsbus": jsbus.pop("settings"), "apscheduler": aps.pop("settings"),
                     "versions": versions("apscheduler"), "machine": machine()},
        "figures": {
            "lateness_ms": {"jsbus": jsbus.pop("lateness_ms"),
                            "apscheduler": aps.pop("lateness_ms")},
            "p99_ratio_jsbus_to_apscheduler": round(p99 / ap99, 2) if both and ap99 else None,
            "worst_slots_s_max_median_ms": {
                "jsbus": jsbus.pop("worst_slots_s_max_median_ms"),
                "apscheduler": aps.pop("worst_slots_s_max_median_ms")},
            "jsbus": jsbus, "apscheduler": aps},
        "targets": [
            target("jsbus lateness p99 (ms)", p99, "< 40", None if p99 is None else p99 < 40),
            target("jsbus missed slots", jsbus["missed"], "== 0", jsbus["missed"] == 0),
            target("jsbus duplicated slots", jsbus["duplicated"], "== 0",
                   jsbus["duplicated"] == 0),
            target("jsbus lateness p99 below APScheduler's (ms)", p99,
                   f"< {ap99} (APScheduler p99, same load, same run)",
                   p99 < ap99 if both else None),
        ],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--quick", action="store_true", help="20 jobs for 15 s")
    print(json.dumps(run(parser.parse_args()), indent=2))
