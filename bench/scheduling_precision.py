"""Scheduling precision: N jobs firing every second for S seconds on a real bus and agent.

Prints, for slots inside the window: lateness from the slot to the batchlet's start on the agent
(p50, p99, max), how many slots were missed (a ledger row saying why, or no row at all) and how
many had two executions. Figures, not assertions. Talks to loopback only; stops by itself.

    python bench/scheduling_precision.py [--jobs 200] [--seconds 60] [--lead 1.5]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from jsbus.launch import start_agent, start_bus, stop_all, wait_until  # noqa: E402

APP_DIR = Path(__file__).resolve().parent / "app"


def when(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def cpu_seconds(pid: int) -> float:
    """CPU time of a process tree: the process, its live descendants and the children they
    reaped (the agent's zygote reaps its workers)."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        processes = [root] + root.children(recursive=True)
    except psutil.Error:
        return total
    for process in processes:
        try:
            t = process.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            pass
    return total


def setup(client: httpx.Client, jobs: int) -> None:
    client.post("/apps", json={"name": "bench", "classpath": [APP_DIR.as_uri()]}).raise_for_status()
    for n in range(jobs):
        client.post("/bench/jobs", json={"id": f"J{n:03d}", "steps": [
            {"id": "stamp", "batchlet": {"ref": "bench_batch.Stamp"}}]}).raise_for_status()


def collect(client: httpx.Client, jobs: int, start: float, end: float) -> dict:
    lateness, missed, duplicated, fired, claimed = [], 0, 0, 0, 0
    for n in range(jobs):
        job = f"J{n:03d}"
        rows = client.get(f"/bench/job/{job}/schedule/history", params={"limit": 1000}).json()
        window = [r for r in rows["results"] if start <= when(r["fire-slot/time"]) < end]
        missed += sum(r["fire-slot/status"] == "missed" for r in window)
        claimed += sum(r["fire-slot/status"] == "fired" for r in window)
        expected = int(end - start)
        missed += max(0, expected - len(window))  # slots with no ledger row at all
        runs = client.get(f"/bench/job/{job}/executions", params={"limit": 1000}).json()
        slots = Counter(e["job-execution/slot"] for e in runs["results"]
                        if e["job-execution/slot"] and start <= when(e["job-execution/slot"]) < end)
        duplicated += sum(count - 1 for count in slots.values())
        for execution in runs["results"]:
            slot, status = execution["job-execution/slot"], execution["job-execution/exit-status"]
            if slot and start <= when(slot) < end and status and status[0].isdigit():
                lateness.append(float(status) - when(slot))
                fired += 1
    return {"lateness": lateness, "missed": missed, "duplicated": duplicated, "fired": fired,
            "claimed": claimed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--lead", type=float, default=1.5)
    parser.add_argument("--json", help="write the figures to this file too")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="jsbus-bench-sched-"))
    password = secrets.token_urlsafe(16)
    env = {"JSBUS_SCHEDULER_LEAD": str(args.lead), "JSBUS_SCHEDULER_MISFIRE_THRESHOLD": "5",
           "JSBUS_ADMIN_PASSWORD": password}
    bus, url = start_bus(workdir, env=env)
    capacity = str(max(8, int(args.jobs * (args.lead + 2))))
    agent = None
    try:
        agent, _ = start_agent(workdir, url, name="bench-agent", extra=["--capacity", capacity])
        token = httpx.post(f"{url}/auth", timeout=30, json={
            "user/id": "admin", "user/password": password}).raise_for_status().json()["token"]
        with httpx.Client(base_url=url, timeout=30,
                          headers={"Authorization": f"Token {token}"}) as client:
            wait_until(lambda: client.get("/agents").raise_for_status().json(), 30,
                       what="the agent")
            setup(client, args.jobs)
            for n in range(args.jobs):
                client.post(f"/bench/job/J{n:03d}/schedule",
                            json={"schedule/cron-notation": "* * * * * ?"}).raise_for_status()
            start = float(int(time.time()) + 3)  # the window starts at a whole second
            end = start + args.seconds
            wait_until(lambda: time.time() > start, 10, interval=0.05, what="the window")
            cpu_before = {"bus": cpu_seconds(bus.popen.pid), "agent": cpu_seconds(agent.popen.pid)}
            wait_until(lambda: time.time() > end, args.seconds + 10, interval=0.5,
                       what="the window to pass")
            cpu = {name: (cpu_seconds(pid) - cpu_before[name]) / args.seconds
                   for name, pid in (("bus", bus.popen.pid), ("agent", agent.popen.pid))}
            for n in range(args.jobs):
                client.put(f"/bench/job/J{n:03d}/schedule/pause")
            deadline = time.time() + 120
            while time.time() < deadline:  # let the last executions finish (bounded)
                busy = client.get("/agents").json()[0]["agent/jobs"]["running"]
                if busy == 0:
                    break
                time.sleep(0.5)
            figures = collect(client, args.jobs, start, end)
    finally:
        stop_all(agent, bus)
    late = figures.pop("lateness")
    report = {"benchmark": "scheduling precision", "jobs": args.jobs, "seconds": args.seconds,
              "lead_s": args.lead, "slots": args.jobs * args.seconds,
              "slots_fired_in_ledger": figures["claimed"],
              "executions_started_and_measured": figures["fired"], "missed": figures["missed"],
              "duplicated": figures["duplicated"],
              "cpu_cores_used": {name: round(value, 3) for name, value in cpu.items()},
              "cpu_ms_per_slot": {name: round(1000 * value / args.jobs, 2)
                                  for name, value in cpu.items()},
              "lateness_ms": {"p50": round(1000 * statistics.median(late), 1) if late else None,
                              "p99": round(1000 * percentile(late, 0.99), 1) if late else None,
                              "max": round(1000 * max(late), 1) if late else None,
                              "min": round(1000 * min(late), 1) if late else None},
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "platform": platform.platform()}}
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
