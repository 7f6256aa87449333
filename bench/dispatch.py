"""Dispatch throughput: jsbus against Celery 5 on the same machine, in the same run.

jsbus side: a bus (``jsbus serve``, SQLite) with two agents on loopback
(``bench.common.running_bus(agents=2)``), the bench app deployed and the one-step job
``Noop`` (``bench_batch.Noop`` returns at once); a round is
``bench.jsbus_dispatch.dispatch_round``: ``count`` executions submitted through the REST API by
``clients`` concurrent HTTP clients, timed from the first request to the latest end time.

Celery side (``bench/celery_side.py``): a private redis-server (broker and result backend, no
persistence) and one ``celery worker --pool=prefork --concurrency=2``; a round submits
``count`` ``.delay()`` calls from ``clients`` threads of this process and waits for every result,
timed from the first submit to the latest end time the tasks returned.

Both sides stay up for the whole run; after one unmeasured warm-up round each, measured rounds
alternate (jsbus, Celery, jsbus, Celery, ...). Reported: each round's executions per second,
the median and mean per side, the ratio jsbus/Celery per round and overall (median of the jsbus
rounds / median of the Celery rounds; target >= 1.0), and the CPU each side used per execution
(bus + agents and their workers; Redis + the worker and its pool). The benchmark process (the
clients) is not counted on either side.

    python -m bench.dispatch [--quick] [--dispatch-rounds 3] [--dispatch-count 2000] ...
"""
from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python bench/dispatch.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import cpu_seconds, running_bus, versions  # noqa: E402

TITLE = "Dispatch throughput: jsbus vs Celery"
DEFAULTS = {"rounds": 3, "count": 2000, "warmup": 100}
QUICK = {"rounds": 1, "count": 300, "warmup": 20}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("dispatch (jsbus vs Celery)")
    group.add_argument("--dispatch-rounds", type=int, metavar="N",
                       help="measured rounds per side (default 3; --quick: 1)")
    group.add_argument("--dispatch-count", type=int, metavar="N",
                       help="executions per round per side (default 2000; --quick: 300)")
    group.add_argument("--dispatch-warmup", type=int, metavar="N",
                       help="executions of the unmeasured warm-up round per side "
                            "(default 100; --quick: 20; 0: none)")
    group.add_argument("--dispatch-clients", type=int, default=8, metavar="N",
                       help="concurrent submitting clients, both sides (default 8)")
    group.add_argument("--dispatch-capacity", type=int, default=64, metavar="N",
                       help="capacity of each of the two jsbus agents (default 64)")
    group.add_argument("--celery-concurrency", type=int, default=2, metavar="N",
                       help="prefork pool processes of the Celery worker (default 2)")
    group.add_argument("--dispatch-timeout", type=float, default=600.0, metavar="SECONDS",
                       help="bound on each round (default 600)")


def _setting(args, name: str):
    value = getattr(args, f"dispatch_{name}", None)
    if value is None:
        value = (QUICK if getattr(args, "quick", False) else DEFAULTS)[name]
    return value


def _jsbus_cpu(bus) -> float:
    return cpu_seconds(bus.pid) + sum(cpu_seconds(a.popen.pid) for a in bus.agents)


def _measured(cpu, round_function) -> dict:
    before = cpu()
    figures = round_function()
    used = cpu() - before
    figures["cpu_seconds"] = round(used, 3)
    figures["cpu_ms_per_execution"] = round(1000 * used / max(1, figures["executions"]), 3)
    return figures


def _ratio(a, b):
    return round(a / b, 3) if a and b else None


def run(args) -> dict:
    from bench.celery_side import redis_version, running_celery
    rounds, count, warmup = _setting(args, "rounds"), _setting(args, "count"), \
        _setting(args, "warmup")
    clients = getattr(args, "dispatch_clients", 8) or 8
    capacity = getattr(args, "dispatch_capacity", 64) or 64
    concurrency = getattr(args, "celery_concurrency", 2) or 2
    timeout = getattr(args, "dispatch_timeout", 600.0) or 600.0
    found = versions("celery", "kombu", "redis")
    settings = {
        "rounds": rounds, "executions_per_round": count, "warmup_executions": warmup,
        "clients": clients, "jsbus_agents": 2, "jsbus_agent_capacity": capacity,
        "celery_pool": "prefork", "celery_concurrency": concurrency,
        "celery_broker_and_backend": "redis (private, loopback, no persistence)",
        "celery_version": found.get("celery"), "kombu_version": found.get("kombu"),
        "redis_py_version": found.get("redis"), "redis_server_version": redis_version(),
        "timing": "first submit -> latest end time (jsbus: end-time recorded by the bus; "
                  "Celery: time.time() returned by the task)",
    }
    jsbus_rounds, celery_rounds = [], []
    with contextlib.ExitStack() as stack:
        bus = stack.enter_context(running_bus(agents=2, capacity=capacity))
        bus.deploy()
        bus.add_job("Noop", "Noop")
        celery = stack.enter_context(running_celery(concurrency))
        from bench.jsbus_dispatch import dispatch_round
        if warmup:
            dispatch_round(bus, warmup, clients, timeout=timeout)
            celery.round(warmup, clients, timeout=timeout)
        for n in range(rounds):
            jsbus_rounds.append(_measured(lambda: _jsbus_cpu(bus), lambda: dispatch_round(
                bus, count, clients, timeout=timeout)))
            print(f"dispatch round {n + 1}/{rounds}: jsbus "
                  f"{jsbus_rounds[-1]['per_second']}/s", file=sys.stderr, flush=True)
            celery_rounds.append(_measured(celery.cpu_seconds, lambda: celery.round(
                count, clients, timeout=timeout)))
            print(f"dispatch round {n + 1}/{rounds}: celery "
                  f"{celery_rounds[-1]['per_second']}/s", file=sys.stderr, flush=True)

    jsbus_rates = [r["per_second"] or 0.0 for r in jsbus_rounds]
    celery_rates = [r["per_second"] or 0.0 for r in celery_rounds]
    ratio = _ratio(statistics.median(jsbus_rates), statistics.median(celery_rates))
    not_completed = sum(r["not_completed"] for r in jsbus_rounds)

    def cpu_per_execution(side: list[dict]) -> float:
        return round(1000 * sum(r["cpu_seconds"] for r in side)
                     / max(1, sum(r["executions"] for r in side)), 3)

    figures = {
        "jsbus_per_second_median": round(statistics.median(jsbus_rates), 1),
        "jsbus_per_second_mean": round(statistics.mean(jsbus_rates), 1),
        "celery_per_second_median": round(statistics.median(celery_rates), 1),
        "celery_per_second_mean": round(statistics.mean(celery_rates), 1),
        "ratio_jsbus_over_celery": ratio,
        "jsbus_cpu_ms_per_execution": cpu_per_execution(jsbus_rounds),
        "celery_cpu_ms_per_execution": cpu_per_execution(celery_rounds),
        "jsbus_not_completed": not_completed,
        "celery_not_completed": sum(r["not_completed"] for r in celery_rounds),
        "rounds": [{"round": n + 1, "jsbus_per_second": j["per_second"],
                    "celery_per_second": c["per_second"],
                    "ratio": _ratio(j["per_second"], c["per_second"]),
                    "jsbus_seconds": j["seconds"], "celery_seconds": c["seconds"],
                    "jsbus_cpu_ms_per_execution": j["cpu_ms_per_execution"],
                    "celery_cpu_ms_per_execution": c["cpu_ms_per_execution"]}
                   for n, (j, c) in enumerate(zip(jsbus_rounds, celery_rounds))],
        "jsbus_rounds": jsbus_rounds,
        "celery_rounds": celery_rounds,
    }
    targets = [
        {"target": "dispatch throughput jsbus / Celery (median of rounds)", "value": ratio,
         "limit": ">= 1.0", "met": None if ratio is None else ratio >= 1.0},
        {"target": "jsbus executions not completed (dispatch)", "value": not_completed,
         "limit": "== 0", "met": not_completed == 0},
    ]
    return {"benchmark": TITLE, "settings": settings, "figures": figures, "targets": targets}


def main() -> None:
    parser = argparse.ArgumentParser(description=TITLE, allow_abbrev=False)
    parser.add_argument("--quick", action="store_true", help="1 round of 300 per side")
    add_arguments(parser)
    args = parser.parse_args()
    started = time.time()
    result = run(args)
    result["seconds"] = round(time.time() - started, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
