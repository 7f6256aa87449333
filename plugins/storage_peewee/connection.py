"""Database URLs to peewee databases, with the settings jsbus relies on.

URLs follow ``playhouse.db_url``: ``sqlite:///relative.db`` or ``sqlite:////abs/path.db``
(three slashes, then the path), ``postgresql://user:pass@host:5432/name``. Query parameters
are passed to the database and win over the defaults below.
"""
from __future__ import annotations

from pathlib import Path

from peewee import Database, SqliteDatabase
from playhouse import db_url

from jsbus.errors import ConfigurationError
from jsbus.private import private_dir, private_file, restrict
from jsbus.redact import redact_url

# WAL: one writer and many readers across threads and processes. busy_timeout makes a writer
# wait for the lock instead of failing at once (measured in the stack notes).
SQLITE_PRAGMAS = {"journal_mode": "wal", "synchronous": "normal", "foreign_keys": 1,
                  "busy_timeout": 10000, "cache_size": -16000}


def is_sqlite_url(url: str) -> bool:
    return url.split(":", 1)[0].startswith("sqlite")


def sqlite_path(url: str) -> Path:
    """The file of a SQLite URL (``ConfigurationError`` for an in-memory database)."""
    path = db_url.parse(url)["database"]
    if path in ("", ":memory:") or path.startswith("file::memory:"):
        # Connections are per thread, so every thread would see a different empty database.
        raise ConfigurationError(f"{redact_url(url)}: in-memory SQLite is not supported, "
                                 f"name a file")
    return Path(path).expanduser().absolute()


def open_database(url: str) -> Database:
    """A peewee database for ``url`` (no connection is made yet).

    For SQLite the parent directory of the file is created when missing (``0700``), and the
    file itself ``0600`` (``jsbus.private``).
    """
    given = db_url.parse(url)
    if is_sqlite_url(url):
        path = sqlite_path(url)
        private_dir(path.parent)
        private_file(path)  # SQLite gives its -wal and -shm files the database file's mode
        for suffix in ("-wal", "-shm", "-journal"):
            restrict(f"{path}{suffix}")
        defaults = {"pragmas": SQLITE_PRAGMAS, "timeout": 10}
        extra = {k: v for k, v in defaults.items() if k not in given}
        return db_url.connect(url, database=str(path), **extra)
    try:
        return db_url.connect(url)
    except RuntimeError as exc:  # what db_url raises for an unknown scheme
        raise ConfigurationError(f"{redact_url(url)}: {exc}") from exc


def is_sqlite(database: Database) -> bool:
    return isinstance(database, SqliteDatabase)
