"""How late a scheduled batchlet starts when many executions are due in the same second.

Starts a real agent (``jsbus.launch.start_agent``) reporting to a recording FakeBus, hands it
``--count`` executions of a trivial batchlet with ``not-before`` about ``--ahead`` seconds
away, all due within one second (``--spread``; 0: all at the same instant), and prints the
lateness of each batchlet's start relative to its not-before (the time the batchlet itself
recorded, and the ``step-started`` event's time: milliseconds), plus the CPU time the agent,
its zygote and its workers used for the burst. Runs with the zygote and without it
(``JSAGENT_ZYGOTE=0``: a fresh ``python -m jsagent.worker`` per execution) unless ``--mode``
picks one. Prints figures; asserts nothing.

    /tmp/venv/bin/python bench/agent_start_latency.py [--count 200] [--ahead 2] [--spread 1]
"""
from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jsbus.launch import start_agent  # noqa: E402
from tests.integration.fakebus import FakeBus  # noqa: E402

APP = textwrap.dedent('''
    import time


    class Mark:
        """Records when it starts (the first thing it does) and ends."""

        def process(self):
            started = time.time()
            print(f"mark {started:.6f}", flush=True)
            return "MARKED"
''')


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] \
        + "Z"


def parse(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def command(execution_id: int, app_dir: Path, not_before: str | None) -> dict:
    body = {"execution-id": execution_id, "app": "bench", "job": "MARK",
            "document": {"id": "MARK", "steps": [{"id": "S", "batchlet": {
                "ref": "latency_app.Mark"}}]},
            "parameters": {}, "classpath": [app_dir.as_uri()]}
    if not_before is not None:
        body["not-before"] = not_before
    return body


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process, its live descendants and every descendant reaped so far."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return total
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def figures(label: str, values_ms: list[float]) -> str:
    if not values_ms:
        return f"  {label:<28} no data"
    return (f"  {label:<28} min {min(values_ms):8.1f}  p50 {statistics.median(values_ms):8.1f}  "
            f"p90 {percentile(values_ms, 0.90):8.1f}  p99 {percentile(values_ms, 0.99):8.1f}  "
            f"max {max(values_ms):8.1f}  ms")


def run(mode: str, count: int, ahead: float, spread: float, work: Path) -> dict:
    app_dir = work / "app"
    app_dir.mkdir(parents=True, exist_ok=True)
    (app_dir / "latency_app.py").write_text(APP)
    bus = FakeBus()
    env = {"JSAGENT_ZYGOTE": "1" if mode == "zygote" else "0", "JSAGENT_HEARTBEAT_INTERVAL": "5"}
    process, url = start_agent(work, bus.url, name=f"bench-{mode}",
                               extra=["--capacity", str(count + 10)],
                               env=env)
    ids = itertools.count(1)
    bus.wait_enrolled()
    http = httpx.Client(base_url=url, timeout=60, trust_env=False, auth=bus.auth())
    try:
        for _ in range(3):  # warm the agent up (not measured)
            eid = next(ids)
            assert http.post("/executions", json=command(eid, app_dir, None)).status_code == 202
            bus.final_event(eid, timeout=60)
        cpu_before = tree_cpu(process.popen.pid)
        base = round(time.time() + ahead, 3)
        plan = {}
        for n in range(count):
            eid = next(ids)
            plan[eid] = round(base + (spread * n / count), 3)

        def post(eid: int) -> int:
            return http.post("/executions",
                             json=command(eid, app_dir, rfc3339(plan[eid]))).status_code

        posted_at = time.time()
        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(post, plan))
        posted = time.time() - posted_at
        refused = sum(1 for status in statuses if status != 202)
        for eid in plan:
            bus.final_event(eid, timeout=max(120.0, ahead + 60))
        cpu = tree_cpu(process.popen.pid) - cpu_before
        mark, step, started, failed = [], [], [], 0
        for eid, not_before in plan.items():
            events = bus.execution_events(eid)
            final = events[-1]
            if final.get("status") != "completed":
                failed += 1
                continue
            for event in events:
                if event["type"] == "log" and event["message"].startswith("mark "):
                    mark.append((float(event["message"].split()[1]) - not_before) * 1000)
                elif event["type"] == "step-started":
                    step.append((parse(event["time"]) - not_before) * 1000)
                elif event["type"] == "execution" and event["status"] == "started":
                    started.append((parse(event["time"]) - not_before) * 1000)
        return {"mode": mode, "posted": posted, "refused": refused, "failed": failed,
                "cpu": cpu, "mark": mark, "step": step, "started": started}
    finally:
        http.close()
        process.stop()
        bus.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--ahead", type=float, default=2.0,
                        help="seconds from the first post to the first not-before")
    parser.add_argument("--spread", type=float, default=1.0,
                        help="the not-befores are spread evenly over this many seconds")
    parser.add_argument("--mode", choices=["both", "zygote", "popen"], default="both")
    args = parser.parse_args()
    modes = ["zygote", "popen"] if args.mode == "both" else [args.mode]
    print(f"{args.count} executions, not-before {args.ahead:g} s ahead, spread over "
          f"{args.spread:g} s; {psutil.cpu_count()} CPUs")
    for mode in modes:
        with tempfile.TemporaryDirectory(prefix=f"jsagent-bench-{mode}-") as work:
            result = run(mode, args.count, args.ahead, args.spread, Path(work))
        print(f"\n{mode}: posted in {result['posted']:.2f} s, refused {result['refused']}, "
              f"not completed {result['failed']}; CPU {result['cpu']:.2f} s "
              f"({result['cpu'] / args.count * 1000:.1f} ms per execution: agent, zygote, "
              f"workers)")
        print("  lateness after not-before:")
        print(figures("batchlet start (recorded)", result["mark"]))
        print(figures("step-started event", result["step"]))
        print(figures("started event", result["started"]))


if __name__ == "__main__":
    main()
