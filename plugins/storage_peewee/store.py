"""``PeeweeStorage``: the built-in storage backend over SQLite or PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Sequence

from peewee import Case, fn

from jsbus.errors import AgentNotFound, JobNotFound
from jsbus.model import (FINAL_STATUSES, AgentInfo, BatchStatus, Job, JobDefinition,
                         JobExecution, JobStats)
from jsbus.storage import LeaderLock, Storage

from .agenttrust import AgentTrustRecords
from .applications import ApplicationRecords
from .base import storage_errors
from .prepared import slot
from .dryruns import TestExecutionRecords
from .connection import is_sqlite_url, sqlite_path
from .convert import agent_columns, definition_to_json, to_agent, to_execution, to_job
from .executions import ExecutionRecords
from .lock import AdvisoryLeaderLock, FileLeaderLock
from .notices import NoticeRecords
from .users import UserRecords
from .schedules import ScheduleRecords
from .steps import StepRecords


class PeeweeStorage(ApplicationRecords, ExecutionRecords, StepRecords, ScheduleRecords,
                    NoticeRecords, TestExecutionRecords, UserRecords, AgentTrustRecords, Storage):
    """Storage on a database URL: ``PeeweeStorage("sqlite:////var/lib/jsbus/jsbus.db")``.

    ``clock`` stamps the rows the interface gives no time for (applications and jobs);
    ``migrations_dir`` is for tests that need another set of migrations. Call ``open()`` in
    each process before use; after that every method may be called from any thread.
    """

    def leader_lock(self) -> LeaderLock:
        if is_sqlite_url(self.url):
            database = sqlite_path(self.url)
            return FileLeaderLock(database.with_name(database.name + ".lock"))
        return AdvisoryLeaderLock(self.url)

    # -- jobs --------------------------------------------------------------------------------
    @storage_errors
    def save_job(self, app: str, definition: JobDefinition) -> tuple[Job, bool]:
        J = self.models.Job
        now = self.clock()
        document = definition_to_json(definition)
        with self.write_transaction():
            self.require_application(app)
            updated = (J.update(definition=document, updated_at=now)
                       .where((J.app == app) & (J.name == definition.id)).execute())
            if not updated:
                J.insert(app=app, name=definition.id, definition=document,
                         created_at=now, updated_at=now).execute()
        return self.get_job(app, definition.id), not updated

    @storage_errors
    def get_job(self, app: str, name: str) -> Job:
        row = self.statements.first(self.models.Job, raw=("definition",), app=app, name=name)
        if row is None:
            self.require_application(app)
            raise JobNotFound(f"{app}/{name}")
        return to_job(row)

    @storage_errors
    def list_jobs(self, app: str, offset: int = 0, limit: int = 20,
                  names: Sequence[str] = (), descending: bool = False
                  ) -> tuple[list[Job], int]:
        J = self.models.Job
        self.require_application(app)
        where = J.app == slot("app")
        values = {"app": app}
        if names:  # a case-sensitive "contains" (LIKE ignores case on SQLite)
            position = fn.INSTR if self.sqlite else fn.STRPOS
            anyone = None
            for n, name in enumerate(names):
                values[f"n{n}"] = name
                test = position(J.name, slot(f"n{n}")) > 0
                anyone = test if anyone is None else anyone | test
            where &= anyone
        # Code point order on both backends (PostgreSQL's default collation is the locale's).
        by_name = J.name if self.sqlite else J.name.collate('"C"')
        shape = f"{len(names)}:{descending}"
        rows = self.prepared.records(f"jobs-page:{shape}", lambda: (
            J.select().where(where).order_by(by_name.desc() if descending else by_name)
            .offset(slot("offset")).limit(slot("limit"))), raw=("definition",),
            offset=int(offset), limit=int(limit), **values)
        total = self.prepared.scalar(f"jobs-count:{shape}", lambda: (
            J.select(fn.COUNT(J.id)).where(where)), **values)
        return [to_job(row) for row in rows], total

    @storage_errors
    def set_job_exclusive(self, app: str, name: str, exclusive: bool) -> Job:
        J = self.models.Job
        (J.update(exclusive=bool(exclusive), updated_at=self.clock())
         .where((J.app == app) & (J.name == name)).execute())
        return self.get_job(app, name)  # JobNotFound when nothing was updated

    @storage_errors
    def delete_job(self, app: str, name: str) -> None:
        """Its schedule and its fire-slot ledger go with it: a job made again under that name
        starts with neither."""
        m = self.models
        E = m.JobExecution
        with self.write_transaction():
            self.lock_job(app, name, to_delete=True)
            for model in (m.Schedule, m.FireSlot, m.StatusNotification, m.NotificationDelivery):
                model.delete().where((model.app == app) & (model.job == name)).execute()
            self._delete_executions(E.select(E.id).where((E.app == app) & (E.job == name)))
            m.Job.delete().where((m.Job.app == app) & (m.Job.name == name)).execute()

    @storage_errors
    def purge_executions(self, app: str, name: str) -> tuple[int, int]:
        """Delete the job's history: every execution of a job instance that has ended, with its
        steps, checkpoints and logs. Instances with an execution still active (or waiting) are
        kept whole. Returns (deleted, kept)."""
        E = self.models.JobExecution
        of_job = (E.app == app) & (E.job == name)
        with self.write_transaction():
            self.lock_job(app, name)
            active = (E.select(E.instance_id)
                      .where(of_job & E.batch_status.not_in(list(FINAL_STATUSES))))
            doomed = E.select(E.id).where(of_job & E.instance_id.not_in(active))
            deleted = self._delete_executions(doomed)
            kept = E.select().where(of_job).count()
            return deleted, kept

    def _delete_executions(self, ids) -> int:
        """Delete the executions of the subquery ``ids``; children first (foreign keys)."""
        m = self.models
        E, C = m.JobExecution, m.Checkpoint
        ids = [row.id for row in ids]
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            C.delete().where(C.instance.in_(chunk) | C.execution.in_(chunk)).execute()
            m.ExecutionLog.delete().where(m.ExecutionLog.execution.in_(chunk)).execute()
            m.StepExecution.delete().where(m.StepExecution.execution.in_(chunk)).execute()
            for model in (m.ExecutionDeadline, m.NotificationDelivery):
                model.delete().where(model.execution_id.in_(chunk)).execute()
            E.delete().where(E.id.in_(chunk)).execute()
        return len(ids)

    @storage_errors
    def latest_executions(self, app: str,
                          names: Sequence[str] | None = None) -> dict[str, JobExecution]:
        """The newest execution of each job of ``app`` that has one, by job name; of
        ``names`` only: one index seek each (their history is not read)."""
        E = self.models.JobExecution
        if names is not None:
            rows = {name: self._latest_row(app, name) for name in names}
            return {name: to_execution(row) for name, row in rows.items() if row is not None}
        newest = (E.select(fn.MAX(E.id)).where(E.app == app).group_by(E.job))
        rows = self._select_executions().where(E.id.in_(newest))
        return {row.job: to_execution(row) for row in rows}

    @storage_errors
    def job_stats(self, app: str, name: str, known: bool = False) -> JobStats:
        E = self.models.JobExecution
        if not known:
            self.require_job(app, name)
        completed = E.batch_status == BatchStatus.COMPLETED
        timed = completed & E.start_time.is_null(False) & E.end_time.is_null(False)
        total, success, failure, average = self.prepared.tuple("job-stats", lambda: (
            E.select(fn.COUNT(E.id),
                     fn.SUM(Case(None, [(completed, 1)], 0)),
                     fn.SUM(Case(None, [(E.batch_status == BatchStatus.FAILED, 1)], 0)),
                     fn.AVG(Case(None, [(timed, self._duration_ms())], None)))
            .where((E.app == slot("app")) & (E.job == slot("job")))), app=app, job=name)
        return JobStats(total=total or 0, success=int(success or 0), failure=int(failure or 0),
                        average=round(float(average or 0.0), 3))

    def _duration_ms(self):
        """SQL for end_time - start_time in milliseconds (date arithmetic is per dialect)."""
        E = self.models.JobExecution
        if self.sqlite:
            # julianday() resolves milliseconds but a difference of two julian days carries
            # float noise of some microseconds: round each duration to whole milliseconds.
            return fn.ROUND((fn.julianday(E.end_time) - fn.julianday(E.start_time))
                            * 86_400_000.0)
        return fn.date_part("epoch", E.end_time - E.start_time) * 1000.0

    # -- agents ------------------------------------------------------------------------------
    @storage_errors
    def save_agent(self, agent: AgentInfo) -> AgentInfo:
        A = self.models.Agent
        columns = agent_columns(agent)
        preserve = [getattr(A, name) for name in columns if name != "instance_id"]
        (A.insert(**columns)
         .on_conflict(conflict_target=[A.instance_id], preserve=preserve)
         .execute())
        return self.get_agent(agent.instance_id)

    @storage_errors
    def get_agent(self, instance_id: str) -> AgentInfo:
        row = self.statements.first(self.models.Agent, instance_id=instance_id)
        if row is None:
            raise AgentNotFound(instance_id)
        return to_agent(row)

    @storage_errors
    def list_agents(self) -> list[AgentInfo]:
        A = self.models.Agent
        return [to_agent(row) for row in A.select().order_by(A.name, A.instance_id)]

    @storage_errors
    def agent_executions(self, instance_id: str, limit: int = 20) -> list[JobExecution]:
        E = self.models.JobExecution
        self.get_agent(instance_id)
        rows = (self._select_executions().where(E.agent_id == instance_id)
                .order_by(E.id.desc()).limit(limit))
        return [to_execution(row) for row in rows]

    @storage_errors
    def set_agent_blocked(self, instance_id: str, blocked: bool) -> AgentInfo:
        A = self.models.Agent
        A.update(blocked=bool(blocked)).where(A.instance_id == instance_id).execute()
        return self.get_agent(instance_id)  # AgentNotFound when nothing was updated

    @storage_errors
    def record_agent_sample(self, instance_id: str, time: datetime, values: dict[str, Any], *,
                            max_samples: int, oldest: datetime, spacing: float = 0.0) -> bool:
        S = self.models.AgentStat
        of_agent = S.agent == instance_id
        # Read outside the write transaction: most heartbeats come sooner than ``spacing`` and
        # must not take SQLite's write lock for nothing.
        newest = S.select(S.time).where(of_agent).order_by(S.time.desc()).first()
        if newest is not None and time - newest.time < timedelta(seconds=spacing):
            return False
        with self.write_transaction():
            S.insert(agent=instance_id, time=time, stats=values).execute()
            S.delete().where(of_agent & (S.time < oldest)).execute()
            # Trimmed at each insert: this skips max_samples index entries to find one row.
            beyond = (S.select(S.id).where(of_agent)
                      .order_by(S.time.desc(), S.id.desc()).offset(max_samples))
            S.delete().where(S.id.in_(beyond)).execute()
        return True

    @storage_errors
    def agent_samples(self, instance_id: str, since: datetime | None = None,
                      limit: int | None = None) -> list[tuple[datetime, dict[str, Any]]]:
        S = self.models.AgentStat
        self.get_agent(instance_id)
        query = S.select(S.time, S.stats).where(S.agent == instance_id)
        if since is not None:
            query = query.where(S.time >= since)
        rows = list(query.order_by(S.time.desc(), S.id.desc()).limit(limit).tuples())
        return [(time, dict(stats or {})) for time, stats in reversed(rows)]
