"""Which classpath entries the Python scanner reads, decided from the files alone."""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

ARCHIVE_SUFFIXES = (".whl", ".zip")


@dataclass(frozen=True)
class PythonEntry:
    kind: str  # "tree": a directory or zip file walked for modules; "file": one module
    path: str  # absolute, as the child process puts it on sys.path
    label: str  # the entry as the caller named it


def python_entries(entries: Iterable[Path | str]) -> tuple[list[PythonEntry], list[str]]:
    """The entries to scan, and problems with entries that claim to be Python but are not.

    Directories holding top-level modules or packages, ``.whl`` and ``.zip`` archives and
    single ``.py`` files are read; anything else (``.jar`` files, directories of class files)
    is skipped silently: it belongs to another scanner.
    """
    readable, problems = [], []
    for entry in entries:
        path = Path(entry)
        kind, problem = _kind(path)
        if kind:
            readable.append(PythonEntry(kind, os.path.abspath(path), str(entry)))
        elif problem:
            problems.append(f"entry {entry}: {problem}")
    return readable, problems


def _kind(path: Path) -> tuple[str | None, str | None]:
    suffix = path.suffix.lower()
    if suffix == ".py":
        return ("file", None) if path.is_file() else (None, "no such module file")
    if suffix in ARCHIVE_SUFFIXES:
        if not path.is_file():
            return None, "no such file"
        return ("tree", None) if zipfile.is_zipfile(path) else (None, "not a zip file")
    if path.is_dir() and _holds_modules(path):
        return "tree", None
    return None, None


def _holds_modules(path: Path) -> bool:
    """Whether ``path`` has a top-level module or package (namespace packages are not read)."""
    try:
        return any(path.glob("*.py")) or any(path.glob("*/__init__.py"))
    except OSError:
        return False
