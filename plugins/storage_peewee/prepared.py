"""Peewee queries rendered to SQL once per shape, then run with new parameters.

Building a query with peewee costs far more than running it on SQLite (``statements.py``): a
query on a hot path is therefore written once, with named ``slot``s where its values go, and
kept as its SQL text. Each run fills the slots (through the slot's field's ``db_value`` when it
has one, as peewee would) and reads the rows with the query's own row reader, so the rows are
exactly what running the query with peewee gives.

    rows = self.prepared.rows("job", lambda: J.select().where(
        (J.app == slot("app")) & (J.name == slot("name"))), app="shop", name="Nightly")
"""
from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any, Callable

from peewee import Database, Field, Value


class Slot:
    """A named parameter of a prepared query (``converter``: a field's ``db_value``)."""
    __slots__ = ("name", "converter")

    def __init__(self, name: str, converter: Callable[[Any], Any] | None = None):
        self.name, self.converter = name, converter

    def __repr__(self) -> str:
        return f"slot({self.name!r})"


def slot(name: str, field: Field | None = None) -> Value:
    """A parameter named ``name``; its values go through ``field.db_value`` when given."""
    return Value(Slot(name, field.db_value if field is not None else None), converter=False,
                 unpack=False)


class Prepared:
    def __init__(self, db: Database):
        self.db = db
        self._cache: dict[str, tuple[Any, str, list]] = {}
        self._lock = threading.Lock()

    def _entry(self, key: str, build: Callable[[], Any]) -> tuple[Any, str, list]:
        entry = self._cache.get(key)
        if entry is None:
            query = build()
            sql, params = query.sql()
            with self._lock:
                entry = self._cache.setdefault(key, (query, sql, params))
        return entry

    def _run(self, key: str, build: Callable[[], Any], values: dict[str, Any]):
        query, sql, params = self._entry(key, build)
        args = []
        for param in params:
            if isinstance(param, Slot):
                value = values[param.name]
                args.append(param.converter(value) if param.converter else value)
            else:
                args.append(param)
        return query, self.db.execute_sql(sql, args)

    def rows(self, key: str, build: Callable[[], Any], **values: Any) -> list:
        """The rows, as the query itself would give them (models, tuples, dicts...)."""
        query, cursor = self._run(key, build, values)
        return list(query._get_cursor_wrapper(cursor))

    def records(self, key: str, build: Callable[[], Any], raw: tuple[str, ...] = (),
                **values: Any) -> list[SimpleNamespace]:
        """Rows of a query selecting model fields, as attribute objects with the fields' Python
        values, but the fields named in ``raw``: their stored value (a JSON text that the
        caller parses through a cache)."""
        query, cursor = self._run(key, build, values)
        fields = query._returning
        out = []
        for row in cursor.fetchall():
            out.append(SimpleNamespace(**{
                field.name: value if field.name in raw else field.python_value(value)
                for field, value in zip(fields, row)}))
        return out

    def first(self, key: str, build: Callable[[], Any], **values: Any):
        found = self.rows(key, build, **values)
        return found[0] if found else None

    def scalar(self, key: str, build: Callable[[], Any], **values: Any):
        """The first column of the first row (None without rows)."""
        _, cursor = self._run(key, build, values)
        row = cursor.fetchone()
        return None if row is None else row[0]

    def tuple(self, key: str, build: Callable[[], Any], **values: Any):
        """The first row as a tuple of raw values (None without rows)."""
        _, cursor = self._run(key, build, values)
        return cursor.fetchone()
