"""Leader locks: which bus process schedules and dispatches.

Both kinds are released by the system when the holding process dies, so a crashed leader never
blocks a successor: the kernel drops an ``flock`` with the last descriptor, and PostgreSQL drops
an advisory lock with its session.
"""
from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from peewee import PeeweeException
from playhouse import db_url

from jsbus.errors import StorageError
from jsbus.redact import redact_text
from jsbus.storage import LeaderLock

# pg_try_advisory_lock takes one bigint; every jsbus bus on a database uses this one ("jsbus").
ADVISORY_KEY = 0x6A73627573


class FileLeaderLock(LeaderLock):
    """``flock(LOCK_EX | LOCK_NB)`` on a file beside the SQLite database.

    flock belongs to the open file description, so two lock objects conflict even inside one
    process. The file is opened on the first attempt and kept open while trying; ``release``
    unlocks and closes it. Create the lock after any fork: a child shares a parent's descriptor.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None
        self._held = False
        self._mutex = threading.Lock()

    def try_acquire(self) -> bool:
        with self._mutex:
            if self._held:
                return True
            try:
                if self._fd is None:
                    self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            except OSError as exc:
                raise StorageError(f"leader lock {self.path}: {exc}") from exc
            self._held = True
            return True

    def release(self) -> None:
        with self._mutex:
            if self._fd is None:
                return
            try:
                if self._held:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)  # closing would free the lock anyway
                self._fd = None
                self._held = False

    @property
    def held(self) -> bool:
        return self._held


# TCP keepalives on the lock's session: when the leader's host dies or is cut off (no FIN ever
# comes), PostgreSQL ends the session, and so frees the lock, within about 5 + 3 * 2 seconds,
# and the leader's own side notices as fast (``verify``). A leader process that dies on a live
# host closes its socket, which ends the session at once: the backend waits on that socket.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
              "keepalives_count": 3}


def keepalive_options(url: str) -> dict:
    """``KEEPALIVES`` but those the URL's query sets itself."""
    given = db_url.parse(url)
    return {key: value for key, value in KEEPALIVES.items() if key not in given}


class AdvisoryLeaderLock(LeaderLock):
    """``pg_try_advisory_lock`` on a connection of its own (PostgreSQL).

    Advisory locks belong to a session, so the lock keeps one dedicated connection, shared by
    whichever thread calls (``thread_safe=False``), from acquire to release.
    """

    def __init__(self, url: str, key: int = ADVISORY_KEY):
        self.url = url
        self.key = key
        self._database = None
        self._held = False
        self._mutex = threading.Lock()

    def try_acquire(self) -> bool:
        with self._mutex:
            if self._held:
                return True
            try:
                if self._database is None:
                    self._database = db_url.connect(self.url, thread_safe=False,
                                                    **keepalive_options(self.url))
                    self._database.connect()
                cursor = self._database.execute_sql("SELECT pg_try_advisory_lock(%s)",
                                                    (self.key,))
                self._held = bool(cursor.fetchone()[0])
            except PeeweeException as exc:
                self._discard()
                raise StorageError(f"leader lock: {redact_text(str(exc))}") from exc
            return self._held

    def verify(self) -> bool:
        """The session is alive (then it holds the lock: nothing but ``release`` unlocks it)."""
        with self._mutex:
            if not self._held or self._database is None:
                return False
            try:
                cursor = self._database.execute_sql(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND pid = pg_backend_pid() AND classid = %s AND objid = %s",
                    (self.key >> 32, self.key & 0xFFFFFFFF))
                held = bool(cursor.fetchone()[0])
            except PeeweeException:
                held = False
            if not held:
                self._discard()
            return held

    def release(self) -> None:
        with self._mutex:
            if self._database is None:
                return
            try:
                if self._held:
                    self._database.execute_sql("SELECT pg_advisory_unlock(%s)", (self.key,))
            except PeeweeException:
                pass  # closing the session below frees the lock as well
            finally:
                self._discard()

    def _discard(self) -> None:
        if self._database is not None:
            self._database.close()
        self._database = None
        self._held = False

    @property
    def held(self) -> bool:
        return self._held
