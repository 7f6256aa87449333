"""The agent's stable instance id: a UUID kept in ``<work_dir>/instance-id``, created once."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

from jsbus.errors import ConfigurationError
from jsbus.private import private_dir

ID_FILE = "instance-id"


def instance_id(work_dir: Path, new_id=uuid.uuid4) -> str:
    """The id stored in ``work_dir``; the first call creates the directory and the file.

    The file is created with ``O_EXCL``, so two agents started at once on one work dir still
    end up with one id.
    """
    private_dir(work_dir)  # 0700: its keys, secrets and artifacts live there
    path = work_dir / ID_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    with os.fdopen(fd, "w") as out:
        out.write(f"{new_id()}\n")
    return _read(path)


def _read(path: Path) -> str:
    text = path.read_text().strip()
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise ConfigurationError(f"{path} does not hold a UUID ({text!r}); remove it to get "
                                 f"a new instance id") from None
