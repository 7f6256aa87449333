"""Job counters: a job's statistics without reading its history (issue 9).

``job_counter`` holds, per job, how many executions it has (``total``), how many completed and
failed, and the sum and count of the durations (in milliseconds) of the completed ones with both
times. Triggers on ``job_execution`` keep it: every insert, update and delete adds what the new
row counts for and takes off what the old one did, in the same transaction, whichever code (or
tool) writes the row. ``GET /{app}/job/{job}`` reads one row instead of aggregating the job's
whole history (measured: 250-750 ms for a job with 300,000 executions). The existing rows are
counted once here.

The durations are those the aggregate used: on SQLite each rounded to whole milliseconds from
``julianday``, on PostgreSQL ``epoch`` of the difference times 1000.

SQLite drops a table's triggers when a migration rebuilds it: a later migration that rebuilds
``job_execution`` must create them again (``create_triggers``).
"""
from peewee import SqliteDatabase

TABLE = """CREATE TABLE IF NOT EXISTS job_counter (
    app VARCHAR(255) NOT NULL,
    job VARCHAR(255) NOT NULL,
    total INTEGER NOT NULL DEFAULT 0,
    completed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    timed INTEGER NOT NULL DEFAULT 0,
    duration_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (app, job))"""

SQLITE_DURATION = ("CASE WHEN {r}.batch_status = 'completed' AND {r}.start_time IS NOT NULL "
                   "AND {r}.end_time IS NOT NULL THEN ROUND((julianday({r}.end_time) - "
                   "julianday({r}.start_time)) * 86400000.0) ELSE 0 END")
PG_DURATION = ("CASE WHEN {r}.batch_status = 'completed' AND {r}.start_time IS NOT NULL "
               "AND {r}.end_time IS NOT NULL THEN date_part('epoch', {r}.end_time - "
               "{r}.start_time) * 1000.0 ELSE 0 END")


def _terms(row: str, duration: str, sign: str) -> str:
    """The VALUES of one row's contribution, ``sign`` '+' or '-'."""
    r = row
    return (f"{sign}1, {sign}(CASE WHEN {r}.batch_status = 'completed' THEN 1 ELSE 0 END), "
            f"{sign}(CASE WHEN {r}.batch_status = 'failed' THEN 1 ELSE 0 END), "
            f"{sign}(CASE WHEN {r}.batch_status = 'completed' AND {r}.start_time IS NOT NULL "
            f"AND {r}.end_time IS NOT NULL THEN 1 ELSE 0 END), "
            f"{sign}({duration.format(r=r)})")


UPSERT = ("INSERT INTO job_counter (app, job, total, completed, failed, timed, duration_ms) "
          "VALUES ({row}.app, {row}.job, {terms}) ON CONFLICT (app, job) DO UPDATE SET "
          "total = job_counter.total + excluded.total, "
          "completed = job_counter.completed + excluded.completed, "
          "failed = job_counter.failed + excluded.failed, "
          "timed = job_counter.timed + excluded.timed, "
          "duration_ms = job_counter.duration_ms + excluded.duration_ms")


def _upsert(row: str, duration: str, sign: str, total: bool = True) -> str:
    terms = _terms(row, duration, sign)
    if not total:  # an update: the execution was counted once, at its insert
        terms = "0" + terms[terms.index(","):]
    return UPSERT.format(row=row, terms=terms)


def create_triggers(db) -> None:
    if isinstance(db, SqliteDatabase):
        d = SQLITE_DURATION
        db.execute_sql(f"CREATE TRIGGER IF NOT EXISTS job_counter_insert AFTER INSERT ON "
                       f"job_execution BEGIN {_upsert('NEW', d, '+')}; END")
        db.execute_sql(f"CREATE TRIGGER IF NOT EXISTS job_counter_update AFTER UPDATE OF "
                       f"batch_status, start_time, end_time, app, job ON job_execution BEGIN "
                       f"{_upsert('OLD', d, '-', total=False)}; "
                       f"{_upsert('NEW', d, '+', total=False)}; END")
        db.execute_sql(f"CREATE TRIGGER IF NOT EXISTS job_counter_delete AFTER DELETE ON "
                       f"job_execution BEGIN {_upsert('OLD', d, '-')}; END")
        return
    d = PG_DURATION
    db.execute_sql(f"""CREATE OR REPLACE FUNCTION job_counter_keep() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_upsert('NEW', d, '+')};
    ELSIF TG_OP = 'UPDATE' THEN
        {_upsert('OLD', d, '-', total=False)};
        {_upsert('NEW', d, '+', total=False)};
    ELSE
        {_upsert('OLD', d, '-')};
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql""")
    db.execute_sql("DROP TRIGGER IF EXISTS job_counter_keep ON job_execution")
    db.execute_sql("CREATE TRIGGER job_counter_keep AFTER INSERT OR DELETE OR UPDATE OF "
                   "batch_status, start_time, end_time, app, job ON job_execution "
                   "FOR EACH ROW EXECUTE FUNCTION job_counter_keep()")


def up(migrator, db):
    db.execute_sql(TABLE)
    duration = SQLITE_DURATION if isinstance(db, SqliteDatabase) else PG_DURATION
    e = "job_execution"
    db.execute_sql(
        "INSERT INTO job_counter (app, job, total, completed, failed, timed, duration_ms) "
        f"SELECT {e}.app, {e}.job, COUNT(*), "
        f"SUM(CASE WHEN {e}.batch_status = 'completed' THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN {e}.batch_status = 'failed' THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN {e}.batch_status = 'completed' AND {e}.start_time IS NOT NULL "
        f"AND {e}.end_time IS NOT NULL THEN 1 ELSE 0 END), "
        f"COALESCE(SUM({duration.format(r=e)}), 0) FROM {e} GROUP BY {e}.app, {e}.job")
    create_triggers(db)


def down(migrator, db):
    if isinstance(db, SqliteDatabase):
        for name in ("insert", "update", "delete"):
            db.execute_sql(f"DROP TRIGGER IF EXISTS job_counter_{name}")
    else:
        db.execute_sql("DROP TRIGGER IF EXISTS job_counter_keep ON job_execution")
        db.execute_sql("DROP FUNCTION IF EXISTS job_counter_keep()")
    db.execute_sql("DROP TABLE IF EXISTS job_counter")
