"""Column types shared by the models: UTC times and JSON documents, portable across backends."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from peewee import DateTimeField, SqliteDatabase, TextField

# Fixed width, so that times stored as text on SQLite sort and compare as times.
_SQLITE_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


class UTCDateTimeField(DateTimeField):
    """A point in time stored as naive UTC; read back as an aware UTC datetime.

    Aware values are converted to UTC on the way in; naive ones are taken to be UTC already.
    """

    def db_value(self, value):
        if not isinstance(value, datetime):
            return super().db_value(value)
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        if isinstance(self.model._meta.database, SqliteDatabase):
            # Format ourselves rather than rely on sqlite3's default datetime adapter
            # (deprecated since Python 3.12), and keep every value the same width.
            # isoformat (C) writes _SQLITE_FORMAT's text, several times faster than strftime.
            return value.isoformat(" ", "microseconds")
        return value

    def python_value(self, value):
        if isinstance(value, str):
            try:  # our own fixed format: ISO 8601, parsed in C (peewee tries formats in turn)
                value = datetime.fromisoformat(value)
            except ValueError:
                value = super().python_value(value)
        else:
            value = super().python_value(value)
        if isinstance(value, datetime):
            if value.tzinfo is None:
                return value.replace(tzinfo=timezone.utc)
            return value.astimezone(timezone.utc)
        return value


class JSONField(TextField):
    """A JSON document kept as text (works the same on SQLite and PostgreSQL)."""

    def db_value(self, value):
        return None if value is None else json.dumps(value, sort_keys=True)

    def python_value(self, value):
        return None if value is None else json.loads(value)
