"""Fill a bus database fast, before a bus starts on it: the application ``bench``, many jobs,
daily schedules and a long history of completed executions.

On purpose this BYPASSES THE API (and the storage API for the bulk): a million executions through
``POST /{app}/job/{job}/executions`` would take hours. It keeps the very same schema, though: the
database is created by opening the bus's own storage (``PluginHost(config).storage().open()``,
which applies every migration), the application and the job ``Noop`` are saved through the
storage API, and every bulk row copies what the storage writes for a real one (the job's
definition text is the stored one of ``Noop`` with its id changed; an execution row and its step
row are shaped as a real completed execution's). The bulk goes in with ``executemany`` on
sqlite3 in big transactions (``synchronous=OFF`` while seeding; the bus sets its own pragmas).

    python -m bench.seed WORKDIR --seed-jobs 100000 --seed-schedules 10000 --seed-executions 1000000
"""
from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import APP_DIR  # noqa: E402

APP = "bench"
FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # plugins/storage_peewee/fields.py: fixed width, naive UTC
METRICS = json.dumps({name: 0 for name in (
    "commit-count", "filter-count", "process-skip-count", "read-count", "read-skip-count",
    "rollback-count", "write-count", "write-skip-count")}, sort_keys=True)
CHUNK = 50_000


def database_path(workdir: Path) -> Path:
    return Path(workdir) / "jsbus.db"  # where jsbus.launch.start_bus puts it


def create_schema(workdir: Path) -> str:
    """Open the storage as the bus does (every migration applied), save the application and
    the job ``Noop`` through it; returns ``Noop``'s stored definition text."""
    from jsbus.config import load_bus_config
    from jsbus.errors import ApplicationNotFound, JobNotFound
    from jsbus.jsl import definition_from_document
    from jsbus.model import Application
    from jsbus.plugins import PluginHost

    url = f"sqlite:///{database_path(workdir)}"
    config = load_bus_config(environ={}).with_overrides({"bus.database": url})
    storage = PluginHost(config).storage()
    storage.open()
    try:
        try:
            storage.get_application(APP)
        except ApplicationNotFound:
            storage.save_application(Application(name=APP, classpath=(APP_DIR.as_uri(),)))
        try:
            storage.get_job(APP, "Noop")
        except JobNotFound:
            storage.save_job(APP, definition_from_document({"id": "Noop", "steps": [
                {"id": "step", "batchlet": {"ref": "bench_batch.Noop"}}]}))
    finally:
        storage.close()
    with sqlite3.connect(database_path(workdir)) as db:
        return db.execute("SELECT definition FROM job WHERE app = ? AND name = 'Noop'",
                          (APP,)).fetchone()[0]


def job_name(n: int) -> str:
    return f"job-{n:06d}"


def _chunks(rows, size=CHUNK):
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def daily_slot(rng: random.Random, now: datetime, quiet_hours: float) -> tuple[int, int]:
    """An (hour, minute) of the day outside the next ``quiet_hours``: the schedule is active
    but does not fire while the benchmark runs."""
    while True:
        hour, minute = rng.randrange(24), rng.randrange(60)
        ahead = (hour * 60 + minute - (now.hour * 60 + now.minute)) % 1440
        if ahead > quiet_hours * 60:
            return hour, minute


def seed(workdir: Path, jobs: int = 100_000, schedules: int = 10_000,
         executions: int = 1_000_000, noop_share: float = 0.3, months: int = 6,
         quiet_hours: float = 4.0, rng_seed: int = 9) -> dict:
    """Seed ``workdir/jsbus.db`` (the bus must not be running on it); returns counts and
    seconds. ``jobs`` counts ``Noop`` too; ``schedules`` go to the first generated jobs."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(rng_seed)
    start = time.monotonic()
    template = json.loads(create_schema(workdir))
    schema_seconds = time.monotonic() - start
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    past = now - timedelta(days=30 * months)
    db = sqlite3.connect(database_path(workdir), isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-262144")  # 256 MB while seeding
    counts = {}
    try:
        first = db.execute("SELECT COUNT(*) FROM job WHERE app = ? AND name LIKE 'job-%'",
                           (APP,)).fetchone()[0]
        names = [job_name(n) for n in range(1, jobs)]
        stamp = past.strftime(FORMAT)

        def job_rows():
            for name in names[first:]:
                yield (APP, name, json.dumps(dict(template, id=name), sort_keys=True),
                       stamp, stamp, 0)

        db.execute("BEGIN")
        for chunk in _chunks(job_rows()):
            db.executemany("INSERT INTO job (app, name, definition, created_at, updated_at,"
                           " exclusive) VALUES (?, ?, ?, ?, ?, ?)", chunk)
        db.execute("COMMIT")
        counts["jobs"] = db.execute("SELECT COUNT(*) FROM job").fetchone()[0]

        def schedule_rows():
            for name in names[:schedules]:
                hour, minute = daily_slot(rng, now, quiet_hours)
                last = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
                if last > now:
                    last -= timedelta(days=1)  # the scheduler has been running: slot dealt with
                yield (APP, name, f"0 {minute} {hour} * * ?", "UTC", None, 0, "fire-once-now",
                       "allow", 0, last.strftime(FORMAT), stamp, stamp)

        db.execute("BEGIN")
        for chunk in _chunks(schedule_rows()):
            db.executemany("INSERT OR IGNORE INTO schedule (app, job, cron, time_zone, calendar,"
                           " substitution, misfire_policy, overlap_policy, paused, last_slot,"
                           " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", chunk)
        db.execute("COMMIT")
        counts["schedules"] = db.execute("SELECT COUNT(*) FROM schedule").fetchone()[0]

        base = db.execute("SELECT COALESCE(MAX(id), 0) FROM job_execution").fetchone()[0]
        agents = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(4)]
        span = (now - timedelta(hours=quiet_hours) - past).total_seconds()
        step = span / max(1, executions)
        epoch = past.timestamp()
        utc = timezone.utc

        def text(seconds: float) -> str:
            return datetime.fromtimestamp(seconds, utc).strftime(FORMAT)

        def execution_rows():
            for n in range(executions):
                ident = base + n + 1
                job = ("Noop" if rng.random() < noop_share or not names
                       else names[rng.randrange(len(names))])
                created = epoch + n * step
                started = created + 0.01 + rng.random() * 0.05
                ended = started + rng.random() * 2.0
                yield ((ident, APP, job, "completed", "{}", text(created), text(created + 0.003),
                        text(started), text(ended), "COMPLETED", agents[n % len(agents)], ident,
                        1, 1),
                       (ident, "step", "completed", text(started + 0.001), text(ended),
                        "COMPLETED", METRICS))

        db.execute("BEGIN")
        for chunk in _chunks(execution_rows()):
            db.executemany(
                "INSERT INTO job_execution (id, app, job, batch_status, job_parameters,"
                " create_time, queued_time, start_time, end_time, exit_status, agent_id,"
                " instance_id, revision, attempt) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [row[0] for row in chunk])
            db.executemany(
                "INSERT INTO step_execution (execution_id, step_name, batch_status, start_time,"
                " end_time, exit_status, metrics) VALUES (?,?,?,?,?,?,?)",
                [row[1] for row in chunk])
        db.execute("COMMIT")  # no ANALYZE: the bus never runs it, so its planner has no stats
        counts["executions"] = db.execute("SELECT COUNT(*) FROM job_execution").fetchone()[0]
        counts["noop_executions"] = db.execute(
            "SELECT COUNT(*) FROM job_execution WHERE app = ? AND job = 'Noop'",
            (APP,)).fetchone()[0]
    finally:
        db.close()
    seconds = time.monotonic() - start
    return {"database": str(database_path(workdir)), **counts,
            "schema_seconds": round(schema_seconds, 2), "seconds": round(seconds, 2),
            "megabytes": round(database_path(workdir).stat().st_size / 2**20, 1)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed-jobs", type=int, default=100_000)
    parser.add_argument("--seed-schedules", type=int, default=10_000)
    parser.add_argument("--seed-executions", type=int, default=1_000_000)
    parser.add_argument("--seed-noop-share", type=float, default=0.3,
                        help="share of the executions that are of the job Noop")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workdir", type=Path)
    add_arguments(parser)
    args = parser.parse_args()
    print(json.dumps(seed(args.workdir, args.seed_jobs, args.seed_schedules,
                          args.seed_executions, args.seed_noop_share), indent=2))
