"""The agent's cache of uploaded artifacts: a start command's ``sha256:<hex>/<name>`` classpath
entries become local files, fetched from the bus (``GET /artifacts/<hex>``) the first time,
checked against their SHA-256 before they are kept, and reused after that. A file whose hash
does not match is thrown away: its code never runs.

Called on the HTTP thread that received the start command (never in the runtime actor).
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Callable

import httpx

from jsbus.artifacts import parse_entry
from jsbus.model import StartCommand
from jsbus.private import private_dir

log = logging.getLogger(__name__)
CHUNK = 1 << 20


class ArtifactUnavailable(Exception):
    """An artifact could not be fetched, or its bytes did not match its hash."""


class ArtifactCache:
    def __init__(self, directory: Path, client: httpx.Client, bus_url: Callable[[], str | None]):
        self.directory = Path(directory)
        self.client, self.bus_url = client, bus_url
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def localize(self, command: StartCommand) -> StartCommand:
        """The command with each artifact entry replaced by the ``file://`` URL of the cached
        file. An entry that cannot be had stays as it is: the worker then fails the execution
        and says which artifact was missing."""
        if not any(parse_entry(entry) for entry in command.classpath):
            return command
        entries = []
        for entry in command.classpath:
            artifact = parse_entry(entry)
            if artifact is None:
                entries.append(entry)
                continue
            try:
                entries.append(self.fetch(*artifact).as_uri())
            except ArtifactUnavailable as exc:
                log.error("execution %s: %s", command.execution_id, exc)
                entries.append(entry)
        return replace(command, classpath=tuple(entries))

    def path(self, sha256: str, name: str) -> Path:
        return self.directory / sha256[:2] / sha256 / name

    def fetch(self, sha256: str, name: str) -> Path:
        target = self.path(sha256, name)
        if target.is_file():
            return target
        with self._guard:
            lock = self._locks.setdefault(sha256, threading.Lock())
        with lock:  # one download per artifact, however many commands need it at once
            if target.is_file():
                return target
            self._download(sha256, target)
            return target

    def _download(self, sha256: str, target: Path) -> None:
        bus = self.bus_url()
        if not bus:
            raise ArtifactUnavailable(f"artifact {sha256}: no bus to fetch it from")
        private_dir(target.parent)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".fetch-")
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, \
                    self.client.stream("GET", f"{bus.rstrip('/')}/artifacts/{sha256}") as answer:
                if answer.status_code != 200:
                    raise ArtifactUnavailable(f"artifact {sha256}: the bus answered "
                                              f"{answer.status_code}")
                for chunk in answer.iter_bytes(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != sha256:
                raise ArtifactUnavailable(f"artifact {sha256}: the bytes received hash to "
                                          f"{digest.hexdigest()}; thrown away, not run")
            os.replace(temporary, target)
            log.info("artifact %s fetched into %s", sha256, target)
        except httpx.HTTPError as exc:
            raise ArtifactUnavailable(f"artifact {sha256}: fetching it from {bus} failed: "
                                      f"{type(exc).__name__}: {exc}") from exc
        finally:
            Path(temporary).unlink(missing_ok=True)
