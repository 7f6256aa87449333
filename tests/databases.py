"""Which database the tests' buses run on: SQLite files (the default), or, with
``JSBUS_TEST_BACKEND=postgresql``, a fresh PostgreSQL database per test on the server of
``JSBUS_TEST_POSTGRES_URL`` (``.ci/run`` runs the whole suite both ways)."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

BACKEND = os.environ.get("JSBUS_TEST_BACKEND", "sqlite")
SERVER = os.environ.get("JSBUS_TEST_POSTGRES_URL", "")
ON_POSTGRESQL = BACKEND == "postgresql"
if ON_POSTGRESQL and not SERVER:
    raise RuntimeError("JSBUS_TEST_BACKEND=postgresql needs JSBUS_TEST_POSTGRES_URL")

sqlite_only = pytest.mark.skipif(ON_POSTGRESQL, reason="about the SQLite file itself")


def _admin(statement: str) -> None:
    import psycopg
    with psycopg.connect(SERVER, autocommit=True) as connection:
        connection.execute(statement)


def create_database(tmp_path: Path, name: str = "bus.db") -> str:
    """A database URL no other test uses: a SQLite file in ``tmp_path``, or a new PostgreSQL
    database (drop it with ``drop_database``)."""
    if not ON_POSTGRESQL:
        return f"sqlite:///{tmp_path / name}"
    database = f"jsbus_t_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{database}"')
    return SERVER.rsplit("/", 1)[0] + f"/{database}"


def drop_database(url: str) -> None:
    if url.startswith("postgresql"):
        _admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
