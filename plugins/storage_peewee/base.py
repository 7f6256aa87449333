"""What every part of the peewee storage shares: the database, its lifecycle, transactions,
error translation and the existence checks behind the ``NotFound`` errors."""
from __future__ import annotations

import contextlib
import functools
import os
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

from peewee import Database, PeeweeException
from playhouse.migrations import Runner

from jsbus.errors import ApplicationNotFound, ExecutionNotFound, JobNotFound, StorageError
from jsbus.model import BatchStatus, utcnow
from jsbus.redact import redact_text, redact_url

from .connection import SQLITE_PRAGMAS, is_sqlite, open_database
from .models import Models, build_models
from .prepared import Prepared, slot
from .statements import Statements

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Serialises migrations between bus processes that start together on one PostgreSQL database.
MIGRATION_LOCK_KEY = 0x6A736D6967  # "jsmig"


def storage_errors(method):
    """Report database failures as ``StorageError`` (``NotFound`` and the like pass through)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except PeeweeException as exc:
            raise StorageError(f"{method.__name__}: {redact_text(str(exc))}") from exc
    return wrapper


class StoreBase:
    """The database connection and helpers; ``PeeweeStorage`` adds the methods of the interface.

    peewee keeps one connection per thread and opens it on first use, so threads need no set-up.
    The database object is built in ``open()`` and rebuilt there in a forked child, which must
    not reuse a connection inherited from its parent.
    """

    def __init__(self, url: str, *, clock: Callable[[], datetime] = utcnow,
                 migrations_dir: Path = MIGRATIONS_DIR):
        self.url = url
        self.clock = clock
        self.migrations_dir = Path(migrations_dir)
        self._database: Database | None = None
        self._models: Models | None = None
        self._statements: Statements | None = None
        self._prepared: Prepared | None = None
        self._pid: int | None = None

    # -- lifecycle -------------------------------------------------------------------------
    @storage_errors
    def open(self) -> None:
        if self._database is None or self._pid != os.getpid():
            try:
                self._database = open_database(self.url)
            except OSError as exc:
                raise StorageError(f"{redact_url(self.url)}: {exc}") from exc
            self._models = build_models(self._database)
            self._statements = Statements(self._database, self._models)
            self._prepared = Prepared(self._database)
            self._pid = os.getpid()
        self._database.connect(reuse_if_open=True)
        self.apply_migrations()

    def close(self) -> None:
        """Close the calling thread's connection (other threads' close when they end)."""
        if self._database is not None and self._pid == os.getpid():
            self._database.close()

    @storage_errors
    def ping(self) -> None:
        """Read the migrations table: the database answers, and it is ours."""
        self.db.execute_sql("SELECT COUNT(*) FROM schema_migration").fetchone()

    @storage_errors
    def apply_migrations(self) -> list[str]:
        """Apply the migrations not yet recorded in ``schema_migration``; returns their names."""
        runner = Runner(self.db, str(self.migrations_dir))
        with self._migration_lock():
            return runner.up()

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        # Two processes opening one new database at once must not both apply 0001: the runner
        # reads its history and then writes, so the whole run goes in one locked transaction.
        db = self.db
        if is_sqlite(db):
            # Foreign keys off while tables are rebuilt, as playhouse's runner does; the pragma
            # only works outside a transaction, hence here and not inside the runner's.
            db.pragma("foreign_keys", 0)
            try:
                with db.atomic("IMMEDIATE"):
                    yield
            finally:
                db.pragma("foreign_keys", 1)
        else:
            with db.atomic():
                db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
                yield

    # -- helpers for the methods -----------------------------------------------------------
    @property
    def db(self) -> Database:
        if self._database is None:
            raise StorageError(f"storage {redact_url(self.url)} is not open: call open() first")
        return self._database

    @property
    def models(self) -> Models:
        if self._models is None:
            raise StorageError(f"storage {redact_url(self.url)} is not open: call open() first")
        return self._models

    @property
    def statements(self) -> Statements:
        """The hot path's statements as cached SQL text (``statements.py``)."""
        if self._statements is None:
            raise StorageError(f"storage {redact_url(self.url)} is not open: call open() first")
        return self._statements

    @property
    def prepared(self) -> Prepared:
        """Queries of the API's and the dispatcher's paths, rendered once (``prepared.py``)."""
        if self._prepared is None:
            raise StorageError(f"storage {redact_url(self.url)} is not open: call open() first")
        return self._prepared

    @property
    def sqlite(self) -> bool:
        return is_sqlite(self.db)

    def write_transaction(self):
        """A transaction for a read-then-write. On SQLite it takes the write lock at BEGIN:
        a deferred transaction that reads first fails with "database is locked" under load."""
        return self.db.atomic("IMMEDIATE") if self.sqlite else self.db.atomic()

    @contextlib.contextmanager
    def batch(self, synced: bool = False) -> Iterator[None]:
        """One write transaction for the block (``Storage.batch``); nested blocks and the
        methods' own transactions become savepoints inside it."""
        if self.db.in_transaction():
            yield
            return
        with contextlib.ExitStack() as stack:
            if synced:
                stack.enter_context(self.synced_commits())
            stack.enter_context(self.write_transaction())
            yield

    @contextlib.contextmanager
    def synced_commits(self) -> Iterator[None]:
        """Commits that survive a power loss, not only a crash of the process.

        PostgreSQL's commits are (``synchronous_commit`` on). SQLite's, with the WAL at
        ``synchronous=normal``, may lose the last ones to a power cut: the calling thread's
        connection syncs the WAL at each commit (``synchronous=full``) inside the block. Inside
        a transaction, where the pragma cannot change, the enclosing ``batch(synced=...)``
        decides.
        """
        if not self.sqlite or self.db.in_transaction():
            yield
            return
        self.db.pragma("synchronous", "full")
        try:
            yield
        finally:
            self.db.pragma("synchronous", SQLITE_PRAGMAS["synchronous"])

    def require_application(self, name: str) -> None:
        A = self.models.Application
        if self.prepared.scalar("app-exists", lambda: A.select(A.id).where(
                A.name == slot("name")).limit(1), name=name) is None:
            raise ApplicationNotFound(name)

    def require_job(self, app: str, name: str) -> None:
        J = self.models.Job
        if self.prepared.scalar("job-exists", lambda: J.select(J.id).where(
                (J.app == slot("app")) & (J.name == slot("name"))).limit(1),
                app=app, name=name) is None:
            self.require_application(app)
            raise JobNotFound(f"{app}/{name}")

    def lock_job(self, app: str, name: str, *, to_delete: bool = False) -> None:
        """``require_job`` inside a write transaction, holding the job's row until it ends.

        On PostgreSQL the row is locked ``FOR SHARE`` (``FOR UPDATE`` to delete the job): a
        writer that adds rows of a job (an execution, a schedule) and ``delete_job`` then run one
        after the other, and neither leaves rows of a deleted job behind. SQLite's IMMEDIATE
        transaction already excludes every other writer.
        """
        lock = None if self.sqlite else ("FOR UPDATE" if to_delete else "FOR SHARE")
        if self.statements.job_id(app, name, lock) is None:
            self.require_application(app)
            raise JobNotFound(f"{app}/{name}")

    def require_execution(self, execution_id: int) -> None:
        E = self.models.JobExecution
        if not E.select().where(E.id == execution_id).exists():
            raise ExecutionNotFound(execution_id)

    def require_instance(self, instance_id: int) -> None:
        E = self.models.JobExecution
        if not E.select().where(E.instance_id == instance_id).exists():
            raise ExecutionNotFound(instance_id)


def transition_sources(transitions: dict, to: BatchStatus) -> list[BatchStatus]:
    """The statuses a guarded move to ``to`` starts from (ValueError when none leads there)."""
    try:
        return sorted(transitions[to])
    except KeyError:
        raise ValueError(f"no transition leads to {to.value!r}") from None
