"""The statements the bus runs for every execution, written out once per shape.

Building a query with peewee costs far more than running it (measured: two thirds of the time of
an agent's events went to generating SQL). The few statements on the hot path (moving an
execution or a step to a status) are therefore rendered here as SQL text, once per shape and
database, and run with parameters. Values still go through the model fields' ``db_value`` and
come back through their ``python_value``, so what is stored is exactly what peewee would store.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Iterable

from peewee import Database, Field, Model


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Returning:
    """Reads rows of ``model`` (all its columns, then ``extra`` names) as attribute objects with
    the fields' Python values, named by column (``execution_id`` for a foreign key)."""

    def __init__(self, model: type[Model], extra: Iterable[str] = (), raw: Iterable[str] = ()):
        self.fields: list[Field] = list(model._meta.sorted_fields)
        self.raw = frozenset(raw)
        self.names = [field.column_name for field in self.fields] + list(extra)
        self.columns = ", ".join(quoted(field.column_name) for field in self.fields)

    def rows(self, cursor) -> list[SimpleNamespace]:
        out = []
        count = len(self.fields)
        for raw in cursor.fetchall():
            values = {name: value if name in self.raw else field.python_value(value)
                      for name, field, value in zip(self.names, self.fields, raw[:count])}
            values.update(zip(self.names[count:], raw[count:]))
            out.append(SimpleNamespace(**values))
        return out


class Statements:
    """Guarded status moves of executions and steps, as cached SQL text."""

    def __init__(self, db: Database, models):
        self.db, self.models = db, models
        self.param = db.param if hasattr(db, "param") else "?"
        self.E, self.S, self.A = models.JobExecution, models.StepExecution, models.Agent
        self.execution_rows = Returning(self.E, extra=("agent_name",))
        self.execution_rows_plain = Returning(self.E)
        self.step_rows = Returning(self.S)
        self._cache: dict[tuple, Any] = {}

    def _placeholders(self, count: int) -> str:
        return ", ".join([self.param] * count)

    def _agent_name(self, table: str) -> str:
        """A scalar subquery: the name of the agent of the execution row of ``table``."""
        agents = quoted(self.A._meta.table_name)
        return (f"(SELECT {quoted(self.A.name.column_name)} FROM {agents} WHERE "
                f"{agents}.{quoted(self.A.instance_id.column_name)} = "
                f"{table}.{quoted(self.E.agent_id.column_name)})")

    def move_execution(self, execution_id: int, to, sources: list,
                       changes: dict[str, Any]) -> SimpleNamespace | None:
        """``UPDATE job_execution SET batch_status = to, <changes> WHERE id = ? AND
        batch_status IN (sources) RETURNING *, <agent name>``: the row after the move, or None.
        ``changes`` maps field names to values (None writes NULL)."""
        E = self.E
        names = tuple(changes)
        key = ("execution", len(sources), names)
        sql = self._cache.get(key)
        if sql is None:
            table = quoted(E._meta.table_name)
            sets = ", ".join(f"{quoted(getattr(E, name).column_name)} = {self.param}"
                             for name in ("batch_status",) + names)
            agent_name = self._agent_name(table)
            sql = self._cache[key] = (
                f"UPDATE {table} SET {sets} WHERE {quoted(E.id.column_name)} = {self.param} "
                f"AND {quoted(E.batch_status.column_name)} IN "
                f"({self._placeholders(len(sources))}) "
                f"RETURNING {self.execution_rows.columns}, {agent_name}")
        status = E.batch_status.db_value
        params = [status(to)]
        params += [getattr(E, name).db_value(value) for name, value in changes.items()]
        params.append(execution_id)
        params += [status(source) for source in sources]
        rows = self.execution_rows.rows(self.db.execute_sql(sql, params))
        return rows[0] if rows else None

    def start_step(self, execution_id: int, step_name: str, status,
                   start_time) -> SimpleNamespace:
        """``INSERT INTO step_execution ... ON CONFLICT (execution_id, step_name) DO UPDATE``
        (a no-op that keeps the row of an earlier start) ``RETURNING *``: one statement for a
        start or its repeat."""
        S = self.S
        sql = self._cache.get(("start-step",))
        if sql is None:
            columns = [S.execution, S.step_name, S.batch_status, S.start_time]
            names = ", ".join(quoted(column.column_name) for column in columns)
            name_column = quoted(S.step_name.column_name)
            sql = self._cache[("start-step",)] = (
                f"INSERT INTO {quoted(S._meta.table_name)} ({names}) "
                f"VALUES ({self._placeholders(len(columns))}) "
                f"ON CONFLICT ({quoted(S.execution.column_name)}, {name_column}) "
                f"DO UPDATE SET {name_column} = EXCLUDED.{name_column} "
                f"RETURNING {self.step_rows.columns}")
        params = [execution_id, step_name, S.batch_status.db_value(status),
                  S.start_time.db_value(start_time)]
        return self.step_rows.rows(self.db.execute_sql(sql, params))[0]

    def end_step(self, execution_id: int, step_name: str, sources: list,
                 changes: dict[str, Any]) -> SimpleNamespace | None:
        """``UPDATE step_execution SET <changes> WHERE execution_id = ? AND step_name = ? AND
        batch_status IN (sources) RETURNING *``: the row after the move, or None."""
        S = self.S
        names = tuple(changes)
        key = ("step", len(sources), names)
        sql = self._cache.get(key)
        if sql is None:
            sets = ", ".join(f"{quoted(getattr(S, name).column_name)} = {self.param}"
                             for name in names)
            sql = self._cache[key] = (
                f"UPDATE {quoted(S._meta.table_name)} SET {sets} "
                f"WHERE {quoted(S.execution.column_name)} = {self.param} "
                f"AND {quoted(S.step_name.column_name)} = {self.param} "
                f"AND {quoted(S.batch_status.column_name)} IN "
                f"({self._placeholders(len(sources))}) RETURNING {self.step_rows.columns}")
        params = [getattr(S, name).db_value(value) for name, value in changes.items()]
        params += [execution_id, step_name]
        params += [S.batch_status.db_value(source) for source in sources]
        rows = self.step_rows.rows(self.db.execute_sql(sql, params))
        return rows[0] if rows else None

    # -- generic shapes (keyed by the model and the names of the columns given) ---------------
    def insert(self, model: type[Model], values: dict[str, Any]) -> int:
        """``INSERT INTO <model> (<values>) VALUES (...) RETURNING id``: the new id."""
        key = ("insert", model, tuple(values))
        sql = self._cache.get(key)
        if sql is None:
            columns = ", ".join(quoted(getattr(model, name).column_name) for name in values)
            sql = self._cache[key] = (
                f"INSERT INTO {quoted(model._meta.table_name)} ({columns}) "
                f"VALUES ({self._placeholders(len(values))}) "
                f"RETURNING {quoted(model._meta.primary_key.column_name)}")
        params = [getattr(model, name).db_value(value) for name, value in values.items()]
        return self.db.execute_sql(sql, params).fetchone()[0]

    def update(self, model: type[Model], changes: dict[str, Any], where: dict[str, Any],
               returning: Returning | None = None) -> list[SimpleNamespace] | int:
        """``UPDATE <model> SET <changes> WHERE <column = value AND ...>``, returning the rows
        (read by ``returning``) or, without it, how many rows changed."""
        key = ("update", model, tuple(changes), tuple(where), returning is not None)
        sql = self._cache.get(key)
        if sql is None:
            sets = ", ".join(f"{quoted(getattr(model, name).column_name)} = {self.param}"
                             for name in changes)
            conditions = " AND ".join(f"{quoted(getattr(model, name).column_name)} = "
                                      f"{self.param}" for name in where)
            sql = (f"UPDATE {quoted(model._meta.table_name)} SET {sets} WHERE {conditions}")
            if returning is not None:
                sql += f" RETURNING {returning.columns}"
            self._cache[key] = sql
        params = [getattr(model, name).db_value(value)
                  for name, value in list(changes.items()) + list(where.items())]
        cursor = self.db.execute_sql(sql, params)
        return returning.rows(cursor) if returning is not None else cursor.rowcount

    def select(self, model: type[Model], where: dict[str, Any], *, order: str | None = None,
               limit: int | None = None, raw: tuple[str, ...] = ()) -> list[SimpleNamespace]:
        """``SELECT * FROM <model> WHERE <column = value AND ...> [ORDER BY order] [LIMIT n]``,
        rows read like ``Returning`` (columns in ``raw`` keep their stored value: a JSON text
        that the caller parses through a cache)."""
        key = ("select", model, tuple(where), order, limit, raw)
        cached = self._cache.get(key)
        if cached is None:
            rows = Returning(model, raw=raw)
            conditions = " AND ".join(f"{quoted(getattr(model, name).column_name)} = "
                                      f"{self.param}" for name in where)
            sql = f"SELECT {rows.columns} FROM {quoted(model._meta.table_name)}"
            if where:
                sql += f" WHERE {conditions}"
            if order:
                sql += " ORDER BY " + ", ".join(quoted(getattr(model, name).column_name)
                                                 for name in order.split(","))
            if limit is not None:
                sql += f" LIMIT {int(limit)}"
            cached = self._cache[key] = (sql, rows)
        sql, rows = cached
        params = [getattr(model, name).db_value(value) for name, value in where.items()]
        return rows.rows(self.db.execute_sql(sql, params))

    def first(self, model: type[Model], raw: tuple[str, ...] = (),
              **where: Any) -> SimpleNamespace | None:
        found = self.select(model, where, limit=1, raw=raw)
        return found[0] if found else None

    def executions(self, ids: list[int]) -> list[SimpleNamespace]:
        """``SELECT *, <agent name> FROM job_execution WHERE id IN (ids)`` (at most 500)."""
        table = quoted(self.E._meta.table_name)
        key = ("executions", len(ids))
        sql = self._cache.get(key)
        if sql is None:
            sql = self._cache[key] = (
                f"SELECT {self.execution_rows.columns}, {self._agent_name(table)} FROM {table} "
                f"WHERE {quoted(self.E.id.column_name)} IN ({self._placeholders(len(ids))})")
        return self.execution_rows.rows(self.db.execute_sql(sql, list(ids)))

    def job_executions_in(self, app: str, job: str, statuses: list, offset: int,
                          limit: int) -> list[SimpleNamespace]:
        """A page (newest first) of a job's executions in ``statuses``: for each status, its
        newest ``offset + limit`` by a seek on ``(app, job, batch_status, id)`` (0012); their
        union is sorted and cut. The cost follows the page, not the job's history."""
        E = self.E
        table = quoted(E._meta.table_name)
        key = ("job-executions-in", len(statuses))
        sql = self._cache.get(key)
        if sql is None:
            ident = quoted(E.id.column_name)
            newest = " UNION ALL ".join(
                f"SELECT {ident} FROM (SELECT {ident} FROM {table} "
                f"WHERE {quoted(E.app.column_name)} = {self.param} "
                f"AND {quoted(E.job.column_name)} = {self.param} "
                f"AND {quoted(E.batch_status.column_name)} = {self.param} "
                f"ORDER BY {ident} DESC LIMIT {self.param}) AS newest{n}"
                for n in range(len(statuses)))
            sql = self._cache[key] = (
                f"SELECT {self.execution_rows.columns}, {self._agent_name(table)} FROM {table} "
                f"WHERE {ident} IN ({newest}) ORDER BY {ident} DESC "
                f"LIMIT {self.param} OFFSET {self.param}")
        params = []
        for status in statuses:
            params += [app, job, E.batch_status.db_value(status), int(offset) + int(limit)]
        params += [int(limit), int(offset)]
        return self.execution_rows.rows(self.db.execute_sql(sql, params))

    def claim(self, statuses: list, to, agent_id: str, now, limit: int,
              skip_locked: bool) -> list[SimpleNamespace]:
        """``UPDATE job_execution SET batch_status = to, agent_id = ?, queued_time = ? WHERE id
        IN (the oldest ``limit`` in ``statuses``) AND batch_status IN (statuses) RETURNING *,
        <agent name>``: a compare-and-set in one statement, so two claimers never both get one
        (``skip_locked``, PostgreSQL: they skip each other's rows)."""
        E = self.E
        key = ("claim", len(statuses), skip_locked)
        sql = self._cache.get(key)
        if sql is None:
            table, status = quoted(E._meta.table_name), quoted(E.batch_status.column_name)
            ident = quoted(E.id.column_name)
            waiting = f"{status} IN ({self._placeholders(len(statuses))})"
            sql = self._cache[key] = (
                f"UPDATE {table} SET {status} = {self.param}, "
                f"{quoted(E.agent_id.column_name)} = {self.param}, "
                f"{quoted(E.queued_time.column_name)} = {self.param} "
                f"WHERE {ident} IN (SELECT {ident} FROM {table} WHERE {waiting} "
                f"ORDER BY {ident} LIMIT {self.param}"
                + (" FOR UPDATE SKIP LOCKED" if skip_locked else "") + ") "
                f"AND {waiting} RETURNING {self.execution_rows.columns}, "
                f"{self._agent_name(table)}")
        codes = [E.batch_status.db_value(value) for value in statuses]
        params = [E.batch_status.db_value(to), agent_id, E.queued_time.db_value(now),
                  *codes, int(limit), *codes]
        return self.execution_rows.rows(self.db.execute_sql(sql, params))

    def app_revision(self, name: str) -> int | None:
        """The current revision of application ``name`` (None when it is missing)."""
        A = self.models.Application
        sql = self._cache.get(("app-revision",))
        if sql is None:
            sql = self._cache[("app-revision",)] = (
                f"SELECT {quoted(A.revision.column_name)} FROM {quoted(A._meta.table_name)} "
                f"WHERE {quoted(A.name.column_name)} = {self.param}")
        row = self.db.execute_sql(sql, [name]).fetchone()
        return None if row is None else row[0]

    def job_id(self, app: str, name: str, lock: str | None = None) -> int | None:
        """The id of job ``app``/``name`` (None when missing), its row locked with ``lock``
        (``FOR SHARE``, ``FOR UPDATE``: PostgreSQL only)."""
        J = self.models.Job
        key = ("job-id", lock)
        sql = self._cache.get(key)
        if sql is None:
            sql = self._cache[key] = (
                f"SELECT {quoted(J.id.column_name)} FROM {quoted(J._meta.table_name)} "
                f"WHERE {quoted(J.app.column_name)} = {self.param} "
                f"AND {quoted(J.name.column_name)} = {self.param}"
                + (f" {lock}" if lock else ""))
        row = self.db.execute_sql(sql, [app, name]).fetchone()
        return None if row is None else row[0]

    def insert_slot(self, values: dict[str, Any], lock: str | None) -> bool:
        """``INSERT INTO fire_slot (<values>) SELECT <values> FROM job WHERE <its job> [lock]
        ON CONFLICT (app, job, slot) DO NOTHING RETURNING id``: True when the row was written
        (False: the slot had a row already, or the job is missing)."""
        F, J = self.models.FireSlot, self.models.Job
        key = ("insert-slot", tuple(values), lock)
        sql = self._cache.get(key)
        if sql is None:
            columns = ", ".join(quoted(getattr(F, name).column_name) for name in values)
            sql = self._cache[key] = (
                f"INSERT INTO {quoted(F._meta.table_name)} ({columns}) "
                f"SELECT {self._placeholders(len(values))} FROM {quoted(J._meta.table_name)} "
                f"WHERE {quoted(J.app.column_name)} = {self.param} "
                f"AND {quoted(J.name.column_name)} = {self.param}"
                + (f" {lock}" if lock else "")
                + f" ON CONFLICT ({quoted(F.app.column_name)}, {quoted(F.job.column_name)}, "
                  f"{quoted(F.slot.column_name)}) DO NOTHING "
                  f"RETURNING {quoted(F.id.column_name)}")
        params = [getattr(F, name).db_value(value) for name, value in values.items()]
        params += [values["app"], values["job"]]
        return self.db.execute_sql(sql, params).fetchone() is not None

    def advance_schedule(self, app: str, job: str, slot) -> None:
        """``UPDATE schedule SET last_slot = ? WHERE <its job> AND (last_slot IS NULL OR
        last_slot < ?)``: a schedule never moves back."""
        S = self.models.Schedule
        sql = self._cache.get(("advance",))
        if sql is None:
            last = quoted(S.last_slot.column_name)
            sql = self._cache[("advance",)] = (
                f"UPDATE {quoted(S._meta.table_name)} SET {last} = {self.param} "
                f"WHERE {quoted(S.app.column_name)} = {self.param} "
                f"AND {quoted(S.job.column_name)} = {self.param} "
                f"AND ({last} IS NULL OR {last} < {self.param})")
        value = S.last_slot.db_value(slot)
        self.db.execute_sql(sql, [value, app, job, value])
