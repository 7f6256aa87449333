"""Files and directories readable by their owner only: the bus's data directory, its SQLite
database (with its ``-wal``, ``-shm`` and leader lock files) and its artifact store are created
``0700`` (directories) and ``0600`` (files), whatever the umask."""
from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` and its missing parents ``0700``; a directory that exists is left as
    it is (it may be shared, ``/tmp`` say)."""
    path = Path(path)
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIR_MODE)
        except FileExistsError:
            continue  # made meanwhile by another process
        os.chmod(directory, DIR_MODE)  # the umask may have taken bits away, never added any
    return path


def private_file(path: str | os.PathLike) -> Path:
    """Create ``path`` (empty) ``0600`` when it is missing; make a file of ours that exists
    ``0600`` (a SQLite file created before this rule, say)."""
    path = Path(path)
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        restrict(path)
    return path


def restrict(path: str | os.PathLike) -> None:
    """``chmod 0600`` a file we own that others may read; nothing for another's or a missing
    file."""
    try:
        info = os.stat(path)
        if info.st_uid == os.getuid() and info.st_mode & 0o077:
            os.chmod(path, info.st_mode & 0o700 & ~0o100 | FILE_MODE)
    except (FileNotFoundError, PermissionError):
        pass
