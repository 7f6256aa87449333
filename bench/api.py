"""REST API throughput: requests per second of ``GET /{app}/job/{job}`` and
``GET /{app}/jobs?limit=20`` on a real bus, beside a bare falcon app (``bench/bare_app.py``)
serving documents of the same size under the same gunicorn settings (``gunicorn_settings``:
one gthread worker, ``bus.threads`` threads).

The load generator is the same C program for both sides, ``wrk`` (else ``ab -k``): fixed
concurrency, fixed duration, keep-alive, after a one-second warm-up. The bus's figures include
its middleware (limits, the token check of ``Authorization: Token ...``: part of its cost) and
its storage (SQLite); the bare app has none. Two floors of the bus are measured too, to tell
them apart: ``/version`` (public: the middleware, no token check, no storage) and ``/account``
(the token check, two storage reads, a small document). Both servers run on this machine,
beside the load generator. Loopback only; every process it starts is stopped after.

With ``--api-profile-seconds N`` (and a ratio below the target), the bus is profiled under the
load with py-spy (``--gil``) and the report lists where its time goes.

    python -m bench.api [--quick] [--api-seconds 5] [--api-concurrency 8]
"""
from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import cpu_seconds, machine, running_bus, versions
from jsbus.launch import Process, free_port, http_ok, wait_until

TITLE = "REST API throughput: bus beside a bare falcon app"
TARGET = 0.5
PYSPY = Path(sys.executable).parent / "py-spy"
UNIT = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("api")
    group.add_argument("--api-seconds", type=float, help="per case (5; quick 2)")
    group.add_argument("--api-concurrency", type=int, default=8, help="connections (8)")
    group.add_argument("--api-jobs", type=int, default=50, help="jobs registered (50)")
    group.add_argument("--api-tool", choices=("wrk", "ab"), help="load generator (wrk if any)")
    group.add_argument("--api-profile-seconds", type=float, default=0.0,
                       help="profile the bus with py-spy this long when a ratio is low (0: no)")


# --- the load generator ---------------------------------------------------------------------

def tool(args) -> str:
    for name in ([args.api_tool] if args.api_tool else ["wrk", "ab"]):
        if shutil.which(name):
            return name
    raise RuntimeError("no load generator: apt-get install -y wrk (or apache2-utils for ab)")


def load(name: str, url: str, headers: dict, seconds: float, concurrency: int) -> dict:
    """One bounded run of the load generator against ``url``."""
    head = [x for k, v in headers.items() for x in ("-H", f"{k}: {v}")]
    if name == "wrk":
        argv = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--latency",
                "--timeout", "10s", *head, url]
    else:
        argv = ["ab", "-k", "-q", "-c", str(concurrency), "-t", str(max(1, round(seconds))),
                "-n", "10000000", *head, url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30).stdout
    return parse_wrk(out) if name == "wrk" else parse_ab(out)


def parse_wrk(out: str) -> dict:
    found = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
             "requests": int(re.search(r"(\d+) requests in", out).group(1))}
    for pct, value, unit in re.findall(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        found[f"p{pct}_ms"] = round(float(value) * UNIT[unit], 2)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    found["non_2xx"] = int(bad.group(1)) if bad else 0
    found["socket_errors"] = errors.group(1).strip() if errors else None
    return found


def parse_ab(out: str) -> dict:
    found = {"rps": float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1)),
             "requests": int(re.search(r"Complete requests:\s+(\d+)", out).group(1))}
    bad = re.search(r"Non-2xx responses:\s+(\d+)", out)
    found["non_2xx"] = int(bad.group(1)) if bad else 0
    for pct in ("50", "90", "99"):
        match = re.search(rf"^\s+{pct}%\s+(\d+)", out, re.M)
        if match:
            found[f"p{pct}_ms"] = float(match.group(1))
    return found


def measure(name: str, pid: int, url: str, headers: dict, seconds: float,
            concurrency: int) -> dict:
    """Warm up for a second, then load ``url`` for ``seconds``; adds the server's CPU."""
    load(name, url, headers, 1, concurrency)
    before = cpu_seconds(pid)
    figures = load(name, url, headers, seconds, concurrency)
    used = cpu_seconds(pid) - before
    figures["server_cpu_ms_per_request"] = round(1000 * used / max(1, figures["requests"]), 3)
    figures["rps"] = round(figures["rps"])
    return figures


# --- the profile ----------------------------------------------------------------------------

def profile(pid: int, run_load, seconds: float, workdir: Path) -> dict:
    """py-spy (``--gil``: samples holding the GIL) on the bus tree while ``run_load`` runs."""
    out = workdir / "bus-profile.txt"
    spy = subprocess.Popen([str(PYSPY), "record", "-p", str(pid), "--gil", "--nolineno", "-s",
                            "-f", "raw", "-o", str(out), "-d", str(round(seconds))],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        run_load()
        spy.wait(seconds + 30)
    finally:
        if spy.poll() is None:
            spy.kill()
            spy.wait()
    return summarise(out.read_text() if out.exists() else "", out)


def summarise(raw: str, path: Path, top: int = 12) -> dict:
    """Shares of the GIL-holding samples: by function (self), by the project's functions
    (``jsbus/``, ``plugins/``; inclusive: that call and all it calls) and by module (self)."""
    own, inclusive, modules, total = (collections.Counter(), collections.Counter(),
                                      collections.Counter(), 0)
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames, n = [f.strip() for f in stack.split(";") if f.strip()], int(count)
        total += n
        own[frames[-1]] += n
        where = re.search(r"\((.*)\)$", frames[-1])
        modules[where.group(1).split("/")[0] if where else frames[-1]] += n
        for frame in set(frames):
            if "(jsbus/" in frame or "(plugins/" in frame:
                inclusive[frame] += n

    def share(counter):
        return [f"{round(100 * n / total, 1)}% {frame}" for frame, n in counter.most_common(top)]

    return {"samples": total, "raw": str(path), "self": share(own) if total else [],
            "project_inclusive": share(inclusive) if total else [],
            "self_by_module": share(modules)[:6] if total else []}


# --- both sides -----------------------------------------------------------------------------

def start_bare(workdir: Path, job: dict, jobs: dict) -> tuple[Process, str]:
    (workdir / "job.json").write_text(json.dumps(job))
    (workdir / "jobs.json").write_text(json.dumps(jobs))
    port = free_port()
    bare = Process([sys.executable, "-m", "bench.bare_app", "--bind", f"127.0.0.1:{port}",
                    "--job", str(workdir / "job.json"), "--jobs", str(workdir / "jobs.json")],
                   workdir / "bare.log", {"PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: bare.popen.poll() is not None or http_ok(f"{url}/healthcheck"), 30,
                   what="the bare app")
    except TimeoutError:
        bare.stop()
        raise
    if bare.popen.poll() is not None:
        raise RuntimeError(f"the bare app exited:\n{bare.output()[-2000:]}")
    return bare, url


def run(args) -> dict:
    quick = bool(getattr(args, "quick", False))
    seconds = args.api_seconds or (2 if quick else 5)
    concurrency, name = args.api_concurrency, tool(args)
    paths = {"job": "/bench/job/J025", "jobs": "/bench/jobs?limit=20"}
    figures, sizes, profiles = {"bus": {}, "bare": {}}, {}, {}
    workdir = Path(tempfile.mkdtemp(prefix="jsbus-bench-api-"))
    with running_bus(agents=0, workdir=workdir) as bus:
        bus.deploy()
        for n in range(args.api_jobs):
            bus.add_job(f"J{n:03d}", "Noop")
        documents = {}
        for key, path in paths.items():
            answer = bus.client.get(path).raise_for_status()
            documents[key], sizes[key] = answer.json(), len(answer.content)
        floors = {"version": "/version", "account": "/account"}
        for key, path in [*paths.items(), *floors.items()]:
            figures["bus"][key] = measure(name, bus.pid, bus.url + path, bus.headers, seconds,
                                          concurrency)
        bare, url = start_bare(workdir, documents["job"], documents["jobs"])
        try:
            for key, path in paths.items():
                assert len(httpx.get(url + path).content) == sizes[key]
            for key, path in paths.items():
                figures["bare"][key] = measure(name, bare.popen.pid, url + path, {}, seconds,
                                               concurrency)
        finally:
            bare.stop()
        ratios = {key: round(figures["bus"][key]["rps"] / figures["bare"][key]["rps"], 3)
                  for key in paths}
        if args.api_profile_seconds > 0 and PYSPY.exists():
            for key, path in paths.items():
                if ratios[key] < TARGET:
                    profiles[key] = profile(bus.pid, lambda p=path: load(
                        name, bus.url + p, bus.headers, args.api_profile_seconds, concurrency),
                        args.api_profile_seconds, workdir)
                    shutil.move(workdir / "bus-profile.txt", workdir / f"bus-profile-{key}.txt")
                    profiles[key]["raw"] = str(workdir / f"bus-profile-{key}.txt")
    return {
        "benchmark": TITLE,
        "settings": {"tool": name, "concurrency": concurrency, "seconds_per_case": seconds,
                     "warm_up_s": 1, "keep_alive": True, "jobs_registered": args.api_jobs,
                     "paths": paths, "floors": floors, "response_bytes": sizes,
                     "quick": quick,
                     "gunicorn": "jsbus.server.gunicorn_settings (1 gthread worker, "
                                 "bus.threads threads), for both",
                     "bus_auth": "Authorization: Token (checked per request, part of the cost)",
                     "workdir": str(workdir), "versions": versions(), "machine": machine()},
        "figures": {**figures, "ratio_bus_to_bare": ratios, "profiles": profiles},
        "targets": [{"target": f"bus rps / bare falcon rps, GET {paths[key]}",
                     "value": ratios[key], "limit": f">= {TARGET}",
                     "met": ratios[key] >= TARGET} for key in paths],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--quick", action="store_true", help="2 s per case")
    print(json.dumps(run(parser.parse_args()), indent=2))
