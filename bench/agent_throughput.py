"""Agent throughput: CPU per execution and start lateness at a sustained rate of scheduled starts.

Starts a real agent (``jsbus.launch.start_agent``, discovery off) reporting to a recording
FakeBus and, for ``--seconds`` whole-second slots, hands it ``--rate`` executions of the bench
job (``bench/app/bench_batch.py`` ``Stamp``) due at that slot, ``--lead`` seconds ahead of it
the way the bus's scheduler does: in batches (``POST /executions/batch``; one
``POST /executions`` per command when the agent has no batch endpoint). A warm-up of
``--warmup`` slots runs first and is not measured.

Prints the CPU seconds the agent and its workers (its zygote, every worker, and whatever they
reaped) used per execution, the lateness of each batchlet's start after its not-before (the
Stamp job's exit status is the wall time at which ``process()`` began) as p50/p99/max, and how
many executions completed. Figures, not assertions; loopback only; stops by itself.

    /tmp/venv/bin/python bench/agent_throughput.py [--rate 200] [--seconds 20] [--lead 1.5]
        [--no-batch] [--slots] [--env JSAGENT_WORKER_REUSE=1 ...]

The agent and its workers share the machine with this process (the feeder and the FakeBus), as
they would share it with a bus.
"""
from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
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

APP_DIR = ROOT / "bench" / "app"
DOCUMENT = {"id": "J", "steps": [{"id": "stamp", "batchlet": {"ref": "bench_batch.Stamp"}}]}


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def command(execution_id: int, not_before: float) -> dict:
    return {"execution-id": execution_id, "app": "bench", "job": "J", "document": DOCUMENT,
            "parameters": {}, "classpath": [APP_DIR.as_uri()],
            "not-before": rfc3339(not_before)}


def cpu_split(pid: int) -> tuple[float, float]:
    """(the agent process's own CPU seconds, its descendants' live and reaped CPU seconds)."""
    root = psutil.Process(pid)
    own = root.cpu_times()
    rest = own.children_user + own.children_system
    for process in root.children(recursive=True):
        try:
            times = process.cpu_times()
        except psutil.Error:  # ended meanwhile: its parent's children_* has it next time
            continue
        rest += times.user + times.system + times.children_user + times.children_system
    return own.user + own.system, rest


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


class Feeder:
    """Hands the agent the executions of each slot, in batches when it can."""

    def __init__(self, http: httpx.Client, batch_size: int):
        self.http, self.batch_size = http, batch_size
        self.batch = True
        self.refused = self.resets = 0
        self.pool = ThreadPoolExecutor(16)

    def send(self, commands: list[dict]) -> None:
        if self.batch:
            for n in range(0, len(commands), self.batch_size):
                chunk = commands[n:n + self.batch_size]
                answer = self.http.post("/executions/batch", json={"executions": chunk})
                if answer.status_code in (404, 405):
                    self.batch = False
                    return self.send(commands[n:])
                self.refused += sum(r["status"] not in (200, 202)
                                    for r in answer.json()["results"])
            return None
        codes = self.pool.map(self._post_one, commands)
        self.refused += sum(code not in (200, 202) for code in codes)
        return None

    def _post_one(self, body: dict) -> int:
        for _ in range(5):  # an HTTP/1.0 agent under load may reset a connection: post again
            try:
                return self.http.post("/executions", json=body).status_code
            except httpx.TransportError:
                self.resets += 1
        return 0


def run_slots(feeder: Feeder, ids, rate: int, seconds: int, lead: float) -> dict[int, float]:
    """Feed ``seconds`` slots of ``rate`` executions; execution id -> not-before."""
    plan: dict[int, float] = {}
    first = float(int(time.time() + lead) + 1)
    for n in range(seconds):
        slot = first + n
        delay = slot - lead - time.time()
        if delay > 0:
            time.sleep(delay)
        commands = [command(next(ids), slot) for _ in range(rate)]
        plan.update((c["execution-id"], slot) for c in commands)
        feeder.send(commands)
    return plan


def measure(args: argparse.Namespace, work: Path) -> dict:
    """Run the warm-up and the measured slots on a fresh agent; the raw figures."""
    bus = FakeBus()
    env = {"JSAGENT_HEARTBEAT_INTERVAL": "5", **dict(item.split("=", 1) for item in args.env)}
    agent, url = start_agent(work, bus.url, name="bench-agent",
                             extra=["--capacity", str(args.capacity)], env=env)
    bus.wait_enrolled()
    http = httpx.Client(base_url=url, timeout=60, trust_env=False, auth=bus.auth())
    feeder = Feeder(http, args.batch_size)
    feeder.batch = not args.no_batch
    ids = itertools.count(1)
    try:
        for eid in run_slots(feeder, ids, args.rate, args.warmup, args.lead):
            bus.final_event(eid, timeout=120)
        own0, rest0 = cpu_split(agent.popen.pid)
        plan = run_slots(feeder, ids, args.rate, args.seconds, args.lead)
        done = sum(bus.has_final(eid, 120) for eid in plan)
        own1, rest1 = cpu_split(agent.popen.pid)
        processes = len(psutil.Process(agent.popen.pid).children(recursive=True))
    finally:
        http.close()
        agent.stop(60)
        bus.close()
    return {"plan": plan, "done": done, "refused": feeder.refused, "resets": feeder.resets,
            "agent_cpu": own1 - own0, "worker_cpu": rest1 - rest0, "processes": processes,
            "batch": feeder.batch, **lateness(bus, plan)}


def lateness(bus: FakeBus, plan: dict[int, float]) -> dict:
    """Milliseconds from each slot to its batchlet's start (and to its ``started`` event)."""
    late, woke, by_slot, completed = [], [], {}, 0
    for eid, slot in plan.items():
        events = bus.execution_events(eid)
        final = events[-1] if events else {}
        if final.get("status") != "completed":
            continue
        completed += 1
        late.append((float(final["exit-status"]) - slot) * 1000)
        by_slot.setdefault(slot, []).append(late[-1])
        woke.extend((parse(e["time"]) - slot) * 1000 for e in events
                    if e["type"] == "execution" and e["status"] == "started")
    return {"completed": completed, "late": late, "woke": woke, "by_slot": by_slot}


def spread(values: list[float]) -> str:
    return (f"p50 {statistics.median(values):.1f} ms, p99 {percentile(values, 0.99):.1f} ms, "
            f"max {max(values):.1f} ms")


def report(args: argparse.Namespace, result: dict) -> None:
    count = max(1, len(result["plan"]))
    agent_ms, worker_ms = (result[key] / count * 1000 for key in ("agent_cpu", "worker_cpu"))
    print(f"start commands: {'batch endpoint' if result['batch'] else 'one POST each'}; "
          f"refused {result['refused']} (connections reset {result['resets']}); ended "
          f"{result['done']}/{count}, completed {result['completed']}; processes under the "
          f"agent at the end: {result['processes']}")
    print(f"CPU per execution: agent {agent_ms:.2f} ms + workers {worker_ms:.2f} ms = "
          f"{agent_ms + worker_ms:.2f} ms")
    if args.slots:
        for slot, values in sorted(result["by_slot"].items()):
            print(f"  slot {slot:.0f}: {spread(values)}; every 10th: "
                  + " ".join(f"{v:.0f}" for v in sorted(values)[::10]))
    for what, values in (("process()", result["late"]), ("the started event", result["woke"])):
        if values:
            print(f"lateness of {what} after not-before: {spread(values)}, "
                  f"min {min(values):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=200, help="executions per slot (second)")
    parser.add_argument("--seconds", type=int, default=20, help="measured slots")
    parser.add_argument("--warmup", type=int, default=2, help="slots run first, not measured")
    parser.add_argument("--lead", type=float, default=1.5,
                        help="seconds before its slot an execution is handed over")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--no-batch", action="store_true",
                        help="one POST /executions per command, not the batch endpoint")
    parser.add_argument("--capacity", type=int, default=1000)
    parser.add_argument("--slots", action="store_true", help="print the lateness per slot")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="environment of the agent (e.g. JSAGENT_WORKER_REUSE=1)")
    args = parser.parse_args()
    print(f"{args.rate} executions per second for {args.seconds} s (after {args.warmup} s of "
          f"warm-up), handed over {args.lead:g} s ahead; {os.cpu_count()} CPUs; "
          f"agent env {args.env or 'default'}")
    with tempfile.TemporaryDirectory(prefix="jsagent-throughput-") as work:
        report(args, measure(args, Path(work)))


if __name__ == "__main__":
    main()
