"""Uploaded artifacts (wheels, zips, jars): checked, stored once by their SHA-256, and merged
into an application's classpath, where a newer version of a distribution replaces the older.

Nothing is stored unless the whole file passes: a corrupt archive, a member with an absolute or
``..`` name, an archive that would expand past ``apps.max_expanded_bytes`` or compresses better
than ``apps.max_ratio`` to one, or an upload over ``apps.max_upload_bytes`` is refused with a
message naming the file.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable

from packaging.version import InvalidVersion, Version

from jsbus.errors import PayloadTooLarge, ValidationError
from jsbus.model import Artifact
from jsbus.private import private_dir

KINDS = {".whl": "wheel", ".zip": "zip", ".jar": "jar"}
SHA256 = re.compile(r"^[0-9a-f]{64}$")
ENTRY = re.compile(r"^sha256:(?P<sha>[0-9a-f]{64})/(?P<name>[^/\\]+)$")
WHEEL = re.compile(r"^(?P<dist>[A-Za-z0-9_.]+?)-(?P<version>[^-]+)(-\d[^-]*)?"
                   r"-[^-]+-[^-]+-[^-]+\.whl$")
CHUNK = 1 << 20


@dataclass(frozen=True)
class Limits:
    upload_bytes: int
    expanded_bytes: int
    ratio: float
    members: int

    @classmethod
    def from_config(cls, config) -> "Limits":
        return cls(upload_bytes=int(config.get("apps.max_upload_bytes")),
                   expanded_bytes=int(config.get("apps.max_expanded_bytes")),
                   ratio=float(config.get("apps.max_ratio")),
                   members=int(config.get("apps.max_members")))


def parse_entry(entry: str) -> tuple[str, str] | None:
    """``(sha256, file name)`` of an artifact classpath entry, None for anything else."""
    match = ENTRY.match(entry)
    return (match["sha"], match["name"]) if match else None


class ArtifactStore:
    """Files under ``directory``, named by their SHA-256 (several bus processes need the same
    directory: ``apps.artifact_dir``)."""

    def __init__(self, directory: Path, limits: Limits):
        self.directory = Path(directory)
        self.limits = limits

    def path(self, sha256: str, filename: str) -> Path:
        """``<directory>/<first two hex digits>/<sha256>/<file name>``: named as uploaded, so
        that what reads it (a scanner, ``sys.path``) sees a ``.whl`` or a ``.jar``."""
        if not SHA256.match(sha256):
            raise ValidationError(f"{sha256!r} is not a SHA-256 in hex")
        return self.directory / sha256[:2] / sha256 / check_filename(filename)

    def discard(self, artifact: Artifact) -> None:
        """Remove a received file that will not be recorded."""
        path = self.path(artifact.sha256, artifact.filename)
        path.unlink(missing_ok=True)
        for directory in (path.parent, path.parent.parent):
            try:
                directory.rmdir()
            except OSError:
                break  # not empty: other files live there

    def receive(self, filename: str | None, stream: BinaryIO) -> Artifact:
        """Read one upload to its end, check it, and keep it; the Artifact to record."""
        name = check_filename(filename)
        private_dir(self.directory)  # 0700; mkstemp makes the file 0600
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".upload-")
        try:
            digest, size = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > self.limits.upload_bytes:
                        raise PayloadTooLarge(f"file {name}: larger than apps.max_upload_bytes "
                                       f"({self.limits.upload_bytes} bytes)")
                    digest.update(chunk)
                    out.write(chunk)
            kind = KINDS[PurePosixPath(name).suffix.lower()]
            distribution, version = inspect_archive(Path(temporary), name, kind, self.limits)
            sha256 = digest.hexdigest()
            target = self.path(sha256, name)
            private_dir(target.parent)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return Artifact(sha256=sha256, filename=name, size=size, kind=kind,
                        distribution=distribution, version=version)


def check_filename(filename: str | None) -> str:
    if not filename:
        raise ValidationError("file: each part needs a file name")
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    if not name or name in (".", "..") or PurePosixPath(name).suffix.lower() not in KINDS:
        raise ValidationError(f"file {filename!r}: must be a wheel (.whl), a zip (.zip) or a "
                              f"jar (.jar)")
    return name


def inspect_archive(path: Path, name: str, kind: str,
                    limits: Limits) -> tuple[str | None, str | None]:
    """Check the archive; its (distribution, version) when it says (wheels: from the file
    name; jars: from Maven's ``pom.properties``)."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            check_members(name, members, path.stat().st_size, limits)
            bad = archive.testzip()
            if bad is not None:
                raise ValidationError(f"file {name}: member {bad!r} is corrupt (CRC mismatch)")
            if kind == "jar":
                return maven_coordinates(archive)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError,
            NotImplementedError) as exc:
        raise ValidationError(f"file {name}: not a readable zip archive ({exc})") from None
    if kind == "wheel":
        match = WHEEL.match(name)
        if match is None:
            raise ValidationError(f"file {name}: not a wheel file name "
                                  f"(name-version-python-abi-platform.whl)")
        return normalise(match["dist"]), match["version"]
    return None, None


def check_members(name: str, members: list[zipfile.ZipInfo], size: int, limits: Limits) -> None:
    if len(members) > limits.members:
        raise ValidationError(f"file {name}: {len(members)} members, more than apps.max_members "
                              f"({limits.members})")
    expanded = 0
    for member in members:
        parts = PurePosixPath(member.filename.replace("\\", "/"))
        if (member.filename.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", member.filename)
                or ".." in parts.parts):
            raise ValidationError(f"file {name}: member {member.filename!r} has an absolute or "
                                  f"'..' name")
        expanded += member.file_size
    if expanded > limits.expanded_bytes:
        raise PayloadTooLarge(f"file {name}: expands to {expanded} bytes, more than "
                       f"apps.max_expanded_bytes ({limits.expanded_bytes})")
    if expanded > limits.ratio * max(size, 1):
        raise ValidationError(f"file {name}: expands {expanded / max(size, 1):.0f} times its size, "
                              f"more than apps.max_ratio ({limits.ratio:g})")


def maven_coordinates(archive: zipfile.ZipFile) -> tuple[str | None, str | None]:
    for member in archive.namelist():
        if member.startswith("META-INF/maven/") and member.endswith("/pom.properties"):
            values = {}
            for line in archive.read(member).decode("utf-8", "replace").splitlines():
                if "=" in line and not line.lstrip().startswith("#"):
                    key, _, value = line.partition("=")
                    values[key.strip()] = value.strip()
            if values.get("artifactId") and values.get("version"):
                return values["artifactId"], values["version"]
    return None, None


def normalise(distribution: str) -> str:
    return re.sub(r"[-_.]+", "_", distribution).lower()


def version_key(version: str | None, kind: str) -> tuple:
    """Orders versions of one distribution: PEP 440 for wheels (when they parse), Maven's way
    for jars and anything else: numbers part by part (``1.10`` after ``1.9``), a qualified
    version (``1.0-SNAPSHOT``) before the release."""
    if version is None:
        return (0,)
    if kind == "wheel":
        try:
            return (2, Version(version))
        except InvalidVersion:
            pass
    parts = re.split(r"[.\-_]", version)
    release = tuple(int(p) for p in parts if p.isdigit())
    qualifiers = tuple(p.lower() for p in parts if not p.isdigit())
    return (1, release, 0 if qualifiers else 1, qualifiers)


def merge_classpath(classpath: tuple[str, ...], added: Artifact,
                    lookup: Callable[[str], Artifact | None]) -> tuple[str, ...]:
    """``classpath`` with ``added``; of the artifacts of one distribution (same kind family and
    name) only the highest version stays, in the place of the first one."""
    if added.distribution is None:
        return tuple(e for e in classpath if e != added.entry) + (added.entry,)
    family = "java" if added.kind == "jar" else "python"
    same: list[tuple[str, Artifact]] = []
    for entry in classpath:
        parsed = parse_entry(entry)
        known = lookup(parsed[0]) if parsed else None
        if (known is not None and known.distribution == added.distribution
                and ("java" if known.kind == "jar" else "python") == family):
            same.append((entry, known))
    best = max([added] + [artifact for _, artifact in same],
               key=lambda a: version_key(a.version, a.kind))
    dropped = {entry for entry, _ in same}
    result, placed = [], False
    for entry in classpath:
        if entry in dropped:
            if not placed:
                result.append(best.entry)
                placed = True
            continue
        result.append(entry)
    if not placed:
        result.append(best.entry)
    return tuple(result)
