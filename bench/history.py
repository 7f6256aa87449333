"""Dispatch throughput with a long history: 1,000,000 past executions in the database
(``--quick``: 100,000), as a ratio to the throughput on an empty database.

Two buses one after the other, each with 2 agents: one on an empty workdir, one on a workdir
seeded by ``bench.seed`` (completed executions with their step rows over six months, 30% of them
of the job ``Noop``). On each: deploy ``bench``, register ``Noop``, a short warm-up round, then
``--history-rounds`` rounds of ``dispatch_round`` (median taken). On each bus a few history reads
are timed too: the first page of ``Noop``'s executions, that page filtered by the statuses of
unfinished executions (what a dashboard, and ``dispatch_round`` itself, polls), and the job's page
``GET /bench/job/Noop`` (statistics over its whole history).
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import machine, running_bus, spread, versions
from bench.jsbus_dispatch import NOT_ENDED, dispatch_round
from bench.seed import seed

TITLE = "Dispatch with a long history"
RATIO_TARGET = 0.9
READ_LIMIT_MS = 100.0
READS = {"executions_page": ("/bench/job/Noop/executions", {"limit": 20, "offset": 0}),
         "unfinished_page": ("/bench/job/Noop/executions",
                             {"limit": 20, "batch-status": NOT_ENDED}),
         "job_page": ("/bench/job/Noop", {})}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--history-executions", type=int, default=None,
                        help="past executions seeded (default 1000000; quick 100000)")
    parser.add_argument("--history-jobs", type=int, default=1000,
                        help="jobs the past executions are spread over (besides Noop)")
    parser.add_argument("--history-count", type=int, default=None,
                        help="executions per round (default 2000; quick 500)")
    parser.add_argument("--history-rounds", type=int, default=None,
                        help="rounds per bus, median taken (default 2; quick 1)")
    parser.add_argument("--history-clients", type=int, default=8)
    parser.add_argument("--history-reads", type=int, default=30,
                        help="requests per kind of history read")
    parser.add_argument("--history-keep", action="store_true",
                        help="keep the workdirs (else deleted: the seeded one is ~600 MB)")


def reads(bus, count: int, budget: float = 30.0) -> dict:
    found = {}
    with bus.new_client(timeout=120) as client:
        for kind, (path, params) in READS.items():
            times, start = [], time.monotonic()
            for _ in range(count):
                t0 = time.perf_counter()
                client.get(path, params=params).raise_for_status()
                times.append(time.perf_counter() - t0)
                if time.monotonic() - start > budget:
                    break
            found[kind] = spread(times)
    return found


def measure(workdir: Path, args, count: int, rounds: int) -> dict:
    launched = time.monotonic()
    with running_bus(agents=2, workdir=workdir) as bus:
        startup = time.monotonic() - launched
        bus.deploy()
        bus.add_job("Noop", "Noop")
        warm = dispatch_round(bus, count=min(100, count), clients=args.history_clients)
        results = [dispatch_round(bus, count=count, clients=args.history_clients)
                   for _ in range(rounds)]
        read_ms = reads(bus, args.history_reads)
    rates = [r["per_second"] or 0.0 for r in results]
    return {"startup_seconds": round(startup, 2), "warmup_per_second": warm["per_second"],
            "per_second": round(statistics.median(rates), 1), "rounds": results,
            "reads_ms": read_ms}


def run(args) -> dict:
    quick = getattr(args, "quick", False)
    executions = args.history_executions or (100_000 if quick else 1_000_000)
    count = args.history_count or (500 if quick else 2000)
    rounds = args.history_rounds or (1 if quick else 2)
    empty_dir = Path(tempfile.mkdtemp(prefix="jsbus-bench-history-empty-"))
    seeded_dir = Path(tempfile.mkdtemp(prefix="jsbus-bench-history-seeded-"))
    try:
        empty = measure(empty_dir, args, count, rounds)
        seeding = seed(seeded_dir, jobs=args.history_jobs + 1, schedules=0,
                       executions=executions)
        seeded = measure(seeded_dir, args, count, rounds)
    finally:
        if not args.history_keep:
            shutil.rmtree(empty_dir, ignore_errors=True)
            shutil.rmtree(seeded_dir, ignore_errors=True)
    ratio = (round(seeded["per_second"] / empty["per_second"], 3)
             if empty["per_second"] else None)
    page = seeded["reads_ms"]["executions_page"]["p99"]
    unfinished = seeded["reads_ms"]["unfinished_page"]["p99"]
    job_page = seeded["reads_ms"]["job_page"]["p99"]
    targets = [
        {"target": f"dispatch throughput with {executions:,} past executions / empty",
         "value": ratio, "limit": f">= {RATIO_TARGET}",
         "met": None if ratio is None else ratio >= RATIO_TARGET},
        {"target": "GET /bench/job/Noop/executions?limit=20 p99 (ms), long history",
         "value": page, "limit": f"< {READ_LIMIT_MS:g}", "met": page < READ_LIMIT_MS},
        {"target": "same, filtered by unfinished statuses, p99 (ms)", "value": unfinished,
         "limit": f"< {READ_LIMIT_MS:g}", "met": unfinished < READ_LIMIT_MS},
        {"target": "GET /bench/job/Noop p99 (ms), long history", "value": job_page,
         "limit": f"< {READ_LIMIT_MS:g}", "met": job_page < READ_LIMIT_MS},
    ]
    return {"benchmark": TITLE,
            "settings": {"past_executions": executions, "jobs": args.history_jobs + 1,
                         "executions_per_round": count, "rounds": rounds, "agents": 2,
                         "clients": args.history_clients, "quick": quick,
                         "machine": machine(), "versions": versions()},
            "figures": {"empty": empty, "seeded": seeded, "seeding": seeding,
                        "per_second_empty": empty["per_second"],
                        "per_second_seeded": seeded["per_second"], "ratio": ratio},
            "targets": targets}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    add_arguments(parser)
    print(json.dumps(run(parser.parse_args()), indent=2))
