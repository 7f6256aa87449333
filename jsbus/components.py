"""The batch components of an application revision, as every installed scanner finds them
(``jsbus_register_scanners``), in the original's shape: ``{"batch-component/batchlet": [refs],
...}`` with the built-in batchlets first. Scans run on the calling API thread (a scanner that
imports code does it in a child process with ``apps.scan_timeout``) and are cached per revision.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from jsbus.artifacts import parse_entry
from jsbus.backends import COMPONENT_KINDS, BatchComponent, ScanResult
from jsbus.model import Application

log = logging.getLogger(__name__)
BUILTIN_BATCHLETS = ("shell", "python-main", "java-main")
CACHED_REVISIONS = 64

_cache: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
_lock = threading.Lock()


def local_paths(bus, application: Application) -> list[Path]:
    """The classpath as local paths: ``file://`` entries, and uploaded artifacts in the
    bus's artifact store."""
    paths = []
    for entry in application.classpath:
        artifact = parse_entry(entry)
        if artifact is not None:
            paths.append(bus.artifacts.path(*artifact))
        else:
            paths.append(Path(unquote(urlparse(entry).path)))
    return paths


def scan(bus, application: Application) -> list[ScanResult]:
    entries = local_paths(bus, application)
    results = []
    for scanner in bus.plugins.scanners():
        try:
            results.append(scanner.scan(entries, bus.config))
        except Exception as exc:  # noqa: BLE001 - a broken scanner is a problem, not a 500
            log.exception("scanner %s failed on %s", scanner.name, application.name)
            results.append(ScanResult(problems=(f"scanner {scanner.name} failed: "
                                                f"{type(exc).__name__}: {exc}",)))
    return results


def components_of(bus, application: Application) -> dict[str, Any]:
    key = (application.name, application.revision, application.classpath)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    answer = render(application, scan(bus, application))
    with _lock:
        _cache[key] = answer
        while len(_cache) > CACHED_REVISIONS:
            _cache.popitem(last=False)
    return answer


def render(application: Application, results: list[ScanResult]) -> dict[str, Any]:
    found: dict[str, list[str]] = {kind: [] for kind in COMPONENT_KINDS}
    found["batchlet"].extend(BUILTIN_BATCHLETS)
    details: list[dict[str, str]] = []
    problems: list[str] = []
    for result in results:
        problems.extend(result.problems)
        for component in sorted(result.components, key=lambda c: (c.kind, c.ref)):
            refs = found.setdefault(component.kind, [])
            if component.ref not in refs:
                refs.append(component.ref)
            details.append(detail(component))
    answer: dict[str, Any] = {f"batch-component/{kind}": refs for kind, refs in found.items()}
    answer["batch-component/application"] = {"application/name": application.name,
                                             "application/revision": application.revision}
    answer["batch-component/details"] = details
    answer["batch-component/problems"] = problems
    return answer


def detail(component: BatchComponent) -> dict[str, str]:
    return {"kind": component.kind, "ref": component.ref, "class": component.class_name,
            "language": component.language, "entry": component.entry}
