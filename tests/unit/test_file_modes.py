"""The bus's data directory, SQLite database (with -wal, -shm and the leader lock) and artifact
store are created readable by their owner only (0700 directories, 0600 files), whatever the
umask; a database file left readable by others is made 0600 when it is opened."""
from __future__ import annotations

import io
import logging
import os
import stat
import zipfile

import pytest

from jsbus.artifacts import ArtifactStore, Limits
from jsbus.config import load_bus_config
from jsbus_plugins.storage_peewee.store import PeeweeStorage

pytestmark = pytest.mark.timeout(60)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(autouse=True)
def loose_umask():
    old = os.umask(0o022)  # the usual default: files 0644, directories 0755
    yield
    os.umask(old)


def test_sqlite_database_wal_shm_lock_and_their_directories(tmp_path):
    database = tmp_path / "new" / "deeper" / "jsbus.db"
    storage = PeeweeStorage(f"sqlite:///{database}")
    storage.open()
    try:
        storage.ping()
        lock = storage.leader_lock()
        assert lock.try_acquire()
        lock.release()
        assert mode(tmp_path / "new") == 0o700
        assert mode(database.parent) == 0o700
        for path in (database, f"{database}-wal", f"{database}-shm", f"{database}.lock"):
            assert os.path.exists(path), path
            assert mode(path) == 0o600, path
    finally:
        storage.close()


def test_an_existing_database_file_readable_by_others_is_made_private(tmp_path):
    database = tmp_path / "jsbus.db"
    first = PeeweeStorage(f"sqlite:///{database}")
    first.open()
    first.close()
    for path in (database, f"{database}-wal", f"{database}-shm"):
        if os.path.exists(path):
            os.chmod(path, 0o644)
    again = PeeweeStorage(f"sqlite:///{database}")
    again.open()
    try:
        again.ping()
        for path in (database, f"{database}-wal", f"{database}-shm"):
            if os.path.exists(path):
                assert mode(path) == 0o600, path
    finally:
        again.close()


def test_artifact_store_directories_and_files(tmp_path):
    store = ArtifactStore(tmp_path / "store" / "artifacts",
                          Limits(upload_bytes=10_000_000, expanded_bytes=10_000_000, ratio=200.0,
                                 members=100))
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("pkg/__init__.py", "X = 1\n")
    data.seek(0)
    artifact = store.receive("pkg.zip", data)
    path = store.path(artifact.sha256, artifact.filename)
    assert mode(path) == 0o600
    directory = path.parent
    while directory != tmp_path:
        assert mode(directory) == 0o700, directory
        directory = directory.parent


def test_serve_creates_the_data_directory_private(tmp_path, caplog):
    from jsbus.cli import _ensure_data_dir
    data = tmp_path / "share" / "jsbus"
    config = load_bus_config(environ={}).with_overrides({"bus.data_dir": str(data)})
    with caplog.at_level(logging.INFO, logger="jsbus"):
        _ensure_data_dir(config)
    assert mode(data) == 0o700 and mode(data.parent) == 0o700


def test_the_agents_work_dir_and_instance_id_are_private(tmp_path):
    from jsagent.identity import instance_id
    work = tmp_path / "agent-work"
    instance_id(work)
    assert work.stat().st_mode & 0o777 == 0o700
    assert (work / "instance-id").stat().st_mode & 0o777 == 0o600
