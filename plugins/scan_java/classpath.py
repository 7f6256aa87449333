"""Class files of one classpath entry: an archive (``.jar``, ``.war``, ``.zip``) or a classes
directory, read within limits and never written anywhere.

Entries come from deployed applications, so an entry may be hostile: archives are read in
memory, every class file is read up to a size limit whatever its header claims, and the number
of class files and bytes read per entry are bounded. What cannot be read is a problem message.
"""
from __future__ import annotations

import os
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

ARCHIVE_SUFFIXES = (".jar", ".war", ".zip")
_MEMBER_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError,
                  RuntimeError, ValueError)  # RuntimeError: encrypted member


@dataclass(frozen=True)
class ReadLimits:
    class_bytes: int = 8 * 1024 * 1024  # the largest class files seen in the wild are ~2 MB
    class_files: int = 200_000  # per entry
    entry_bytes: int = 1024 * 1024 * 1024  # class bytes read per entry


def class_files(entry: Path, problems: list[str],
                limits: ReadLimits = ReadLimits()) -> Iterator[tuple[str, bytes]]:
    """``(path inside the entry, class file bytes)`` for each class file of ``entry``; nothing
    for an entry that is not Java's. What cannot be read is appended to ``problems``."""
    if entry.suffix.lower() in ARCHIVE_SUFFIXES and entry.is_file():
        files = _archive_members(entry, problems, limits)
    elif entry.is_dir():
        files = _directory_files(entry, problems, limits)
    else:
        return
    count = total = 0
    try:
        for class_path, data in files:
            if count == limits.class_files or total + len(data) > limits.entry_bytes:
                problems.append(f"{entry}: stopped after {count} class files ({total} bytes): "
                                f"the entry is larger than a scan reads")
                return
            count, total = count + 1, total + len(data)
            yield class_path, data
    finally:
        files.close()  # closes the archive now, also when stopped early


def _archive_members(entry: Path, problems: list[str],
                     limits: ReadLimits) -> Iterator[tuple[str, bytes]]:
    try:
        with zipfile.ZipFile(entry) as archive:
            for info in archive.infolist():
                if info.filename.endswith(".class") and not info.is_dir():
                    data = _member(archive, info, f"{entry}: {info.filename}", problems, limits)
                    if data is not None:
                        yield info.filename, data
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        problems.append(f"{entry}: not a readable archive: {exc}")


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str, problems: list[str],
            limits: ReadLimits) -> bytes | None:
    if _too_large(info.file_size, where, problems, limits):
        return None
    try:
        with archive.open(info) as member:
            data = member.read(limits.class_bytes + 1)  # the header may lie about the size
    except _MEMBER_ERRORS as exc:
        problems.append(f"{where}: cannot be read: {exc}")
        return None
    return None if _too_large(len(data), where, problems, limits) else data


def _directory_files(entry: Path, problems: list[str],
                     limits: ReadLimits) -> Iterator[tuple[str, bytes]]:
    def unreadable(exc: OSError) -> None:
        problems.append(f"{entry}: cannot list {exc.filename}: {exc.strerror}")

    for folder, folders, names in os.walk(entry, onerror=unreadable):  # not into symlinked dirs
        folders.sort()
        for name in sorted(names):
            if name.endswith(".class"):
                path = Path(folder, name)
                class_path = path.relative_to(entry).as_posix()
                data = _file(path, f"{entry}: {class_path}", problems, limits)
                if data is not None:
                    yield class_path, data


def _file(path: Path, where: str, problems: list[str], limits: ReadLimits) -> bytes | None:
    try:
        status = path.stat()
        if not stat.S_ISREG(status.st_mode):  # a FIFO or device named *.class would block
            problems.append(f"{where}: skipped, not a regular file")
            return None
        if _too_large(status.st_size, where, problems, limits):
            return None
        with path.open("rb") as stream:
            data = stream.read(limits.class_bytes + 1)
    except OSError as exc:
        problems.append(f"{where}: cannot be read: {exc.strerror or exc}")
        return None
    return None if _too_large(len(data), where, problems, limits) else data  # grew since stat()


def _too_large(size: int, where: str, problems: list[str], limits: ReadLimits) -> bool:
    if size > limits.class_bytes:
        problems.append(f"{where}: skipped, over the {limits.class_bytes}-byte class file limit")
    return size > limits.class_bytes
