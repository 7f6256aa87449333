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
from jsbus.errors import Conflict, ValidationError
from jsbus.jsl.model import Job
from jsbus.jsl.validation import _artifacts
from jsbus.model import Application
from jsbus.model import Job as RegisteredJob

log = logging.getLogger(__name__)
BUILTIN_BATCHLETS = ("shell", "python-main", "java-main")
# Built-ins that run any program: only in applications an admin enabled them for
# (``PUT /app/{name}/builtins``, ``application/builtins``); the agent checks again.
RESTRICTED_BUILTINS = ("shell", "java-main")
_RESTRICTED_CLASSES = {"ShellBatchlet": "shell", "JavaMainBatchlet": "java-main"}
_RESTRICTED_MODULES = {"jsagent.batchlets.shell": "shell",
                       "jsagent.batchlets.java_main": "java-main"}
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


def restricted_builtin(ref: str) -> str | None:
    """The restricted built-in (``shell``, ``java-main``) that ``ref`` names, by its bare name
    or as a class of ``jsagent.batchlets``; None for any other ref."""
    if ref in RESTRICTED_BUILTINS:
        return ref
    module, _, attr = ref.partition(":") if ":" in ref else ref.rpartition(".")
    if module in _RESTRICTED_MODULES:
        return _RESTRICTED_MODULES[module]
    if module.startswith("jsagent.batchlets"):
        return _RESTRICTED_CLASSES.get(attr.rpartition(".")[2])
    return None


def restricted_uses(job: Job, enabled: tuple[str, ...] = ()) -> list[str]:
    """A message for each ref of ``job`` naming a restricted built-in not in ``enabled``."""
    found = []
    for who, what, ref in _artifacts(job):
        builtin = restricted_builtin(ref.ref) if ref is not None else None
        if builtin is not None and builtin not in enabled:
            found.append(f"{who}: {what} ref {ref.ref!r} is the built-in {builtin!r}, which "
                         f"this application has not enabled (application/builtins; an admin "
                         f"enables it with PUT /app/{{name}}/builtins)")
    return found


def check_builtins(job: Job, application: Application) -> None:
    """ValidationError (400) when ``job`` uses a restricted built-in its application has not
    enabled: at registration."""
    messages = restricted_uses(job, application.builtins)
    if messages:
        raise ValidationError(messages)


def require_builtins(storage, app: str, job: str) -> RegisteredJob:
    """The job; Conflict (409) when it uses a restricted built-in its application has not
    enabled (any more): at submission and restart."""
    found = storage.get_job(app, job)
    messages = restricted_uses(found.definition, storage.get_application(app).builtins)
    if messages:
        raise Conflict(f"{app}/{job}: " + "; ".join(messages))
    return found
