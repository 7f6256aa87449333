"""A bus with many jobs and schedules: 100,000 registered jobs, 10,000 active daily schedules
(``--quick``: 10,000 / 1,000), seeded into the database before the bus starts (``bench.seed``).

Measured once the bus has settled (the scheduler planned every schedule: bounded wait until
the bus's CPU calms): resident memory and threads of the bus process tree (gunicorn arbiter and
worker), idle CPU, the time from launch to healthy, and the latency of the job list
``GET /bench/jobs`` (first page, a page deep in the list, a name filter, ``with=execution,
schedule``, a filter on the latest execution), each over ``--scale-requests`` requests
(bounded in time by ``--scale-request-budget`` per kind).
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import (cpu_seconds, idle_cpu, machine, rss_bytes, running_bus, spread,
                          thread_count, versions)
from bench.seed import seed

TITLE = "Scale: many jobs and schedules"
RSS_LIMIT_MB = 500
THREAD_LIMIT = 64
IDLE_LIMIT = 0.02
LIST_LIMIT_MS = 100.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale-jobs", type=int, default=None,
                        help="registered jobs (default 100000; quick 10000)")
    parser.add_argument("--scale-schedules", type=int, default=None,
                        help="active schedules (default 10000; quick 1000)")
    parser.add_argument("--scale-executions", type=int, default=None,
                        help="past executions spread over the jobs (default 100000; quick 10000)")
    parser.add_argument("--scale-requests", type=int, default=50,
                        help="requests per kind of job-list request")
    parser.add_argument("--scale-request-budget", type=float, default=60.0,
                        help="seconds at most per kind of job-list request")
    parser.add_argument("--scale-idle", type=float, default=None,
                        help="seconds of the idle-CPU window (default 30; quick 10)")
    parser.add_argument("--scale-settle", type=float, default=90.0,
                        help="seconds at most to wait for the bus to settle")
    parser.add_argument("--scale-workdir", type=Path, default=None,
                        help="an already seeded workdir (skips seeding; kept)")
    parser.add_argument("--scale-keep", action="store_true",
                        help="keep the seeded temporary workdir (else deleted)")


def settle(pid: int, timeout: float, window: float = 1.0, calm: float = 0.05,
           windows: int = 3) -> float:
    """Wait (at most ``timeout``) until the tree's CPU stays under ``calm`` of a core for
    ``windows`` windows in a row; returns the seconds waited."""
    start, quiet = time.monotonic(), 0
    while quiet < windows and time.monotonic() - start < timeout:
        before = cpu_seconds(pid)
        time.sleep(window)
        quiet = quiet + 1 if (cpu_seconds(pid) - before) / window < calm else 0
    return time.monotonic() - start


def latencies(client, params: dict, count: int, budget: float) -> tuple[list[float], dict]:
    times, answer, start = [], None, time.monotonic()
    for _ in range(count):
        t0 = time.perf_counter()
        response = client.get("/bench/jobs", params=params)
        times.append(time.perf_counter() - t0)
        response.raise_for_status()
        answer = response.json()
        if time.monotonic() - start > budget:
            break
    return times, {"hits": answer["hits"], "results": len(answer["results"])}


def measure(workdir: Path, args, idle_seconds: float, requests: int, figures: dict) -> None:
    launched = time.monotonic()
    with running_bus(agents=1, workdir=workdir) as bus:
        figures["startup_seconds"] = round(time.monotonic() - launched, 2)
        waited = settle(bus.pid, args.scale_settle)
        figures["settle_seconds"] = round(waited, 1)
        figures["settled"] = waited < args.scale_settle  # else: never calm (see idle CPU)
        counted = bus.client.get("/bench/jobs", params={"limit": 1}).raise_for_status().json()
        figures["jobs_listed"] = counted["hits"]
        figures["rss_mb"] = round(rss_bytes(bus.pid) / 2**20, 1)
        figures["threads"] = thread_count(bus.pid)
        figures["idle_cpu_share"] = round(idle_cpu(bus.pid, idle_seconds), 4)
        deep = max(0, counted["hits"] - 40)
        kinds = {"first_page": {"limit": 20},
                 "deep_offset": {"limit": 20, "offset": deep},
                 "name_filter": {"limit": 20, "q": "job-0042"},
                 "with_execution_schedule": {"limit": 20, "with": "execution,schedule"},
                 # filters on the latest execution: every job and its latest execution read
                 "execution_filter": {"limit": 20, "q": "exit-status:COMPLETED"}}
        figures["list_ms"] = {}
        with bus.new_client(timeout=120) as client:
            for kind, params in kinds.items():
                times, shape = latencies(client, params, requests, args.scale_request_budget)
                figures["list_ms"][kind] = {**spread(times), **shape, "params": params}
        figures["rss_mb_after_lists"] = round(rss_bytes(bus.pid) / 2**20, 1)
        figures["threads_after_lists"] = thread_count(bus.pid)


def run(args) -> dict:
    quick = getattr(args, "quick", False)
    jobs = args.scale_jobs or (10_000 if quick else 100_000)
    schedules = args.scale_schedules if args.scale_schedules is not None else (
        1_000 if quick else 10_000)
    executions = args.scale_executions if args.scale_executions is not None else (
        10_000 if quick else 100_000)
    idle_seconds = args.scale_idle or (10.0 if quick else 30.0)
    requests = max(1, args.scale_requests if not quick else min(args.scale_requests, 20))
    workdir = args.scale_workdir
    seeded = None
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="jsbus-bench-scale-"))
        seeded = seed(workdir, jobs=jobs, schedules=schedules, executions=executions)
    figures: dict = {"seeding": seeded}
    try:
        measure(workdir, args, idle_seconds, requests, figures)
    finally:
        if seeded is not None and not args.scale_keep:
            shutil.rmtree(workdir, ignore_errors=True)
    first = figures["list_ms"]["first_page"]["p50"]
    targets = [
        {"target": "bus resident memory (MB)", "value": figures["rss_mb"],
         "limit": f"< {RSS_LIMIT_MB}", "met": figures["rss_mb"] < RSS_LIMIT_MB},
        {"target": "bus threads", "value": figures["threads"], "limit": f"<= {THREAD_LIMIT}",
         "met": figures["threads"] <= THREAD_LIMIT},
        {"target": "idle CPU (share of one core)", "value": figures["idle_cpu_share"],
         "limit": f"< {IDLE_LIMIT}", "met": figures["idle_cpu_share"] < IDLE_LIMIT},
        {"target": "GET /bench/jobs?limit=20 p50 (ms)", "value": first,
         "limit": f"< {LIST_LIMIT_MS:g}", "met": first is not None and first < LIST_LIMIT_MS},
    ]
    return {"benchmark": TITLE,
            "settings": {"jobs": jobs, "schedules": schedules, "executions": executions,
                         "agents": 1, "idle_seconds": idle_seconds,
                         "requests_per_kind": requests, "quick": quick,
                         "workdir": str(workdir), "machine": machine(), "versions": versions()},
            "figures": figures, "targets": targets}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    add_arguments(parser)
    print(json.dumps(run(parser.parse_args()), indent=2))
