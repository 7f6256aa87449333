"""Batch artifacts: resolving a ``ref`` to a class, building an instance, injecting properties
and contexts.

A ``ref`` is ``package.module.Class``, ``package.module:Class`` or a name registered with
``@jsagent.api.named`` (a bare name imports ``jsagent.batchlets`` first, so the built-in
batchlets register). The class is called with no arguments (a factory function will do).
"""
from __future__ import annotations

import importlib
import logging
import re
from typing import Any, Mapping

from jsagent.api import JobContext, StepContext, registered
from jsagent.engine.properties import Substitution
from jsbus.jsl.model import Ref

log = logging.getLogger("jsagent.worker")
_BUILTINS_LOADED = False
# The restricted built-ins (``shell``, ``java-main``: classes with ``jsagent_restricted``) the
# running execution's application enabled: its start command's ``builtins``. None enabled until
# a worker says so (``enable_builtins``), whatever the ref names them by.
_ENABLED: frozenset[str] = frozenset()


class BuiltinNotEnabled(PermissionError):
    """A ref to a restricted built-in batchlet its application has not enabled."""


def enable_builtins(names) -> None:
    """Allow exactly ``names`` of the restricted built-ins (the start command's ``builtins``)."""
    global _ENABLED
    _ENABLED = frozenset(str(name) for name in names or ())


def check_restricted(target: Any, ref: str, kind: str) -> None:
    """BuiltinNotEnabled when ``target`` is a restricted built-in that is not enabled."""
    restricted = getattr(target, "jsagent_restricted", None)
    if isinstance(restricted, str) and restricted not in _ENABLED:
        raise BuiltinNotEnabled(
            f"{kind} ref {ref!r} is the built-in {restricted!r}, which this execution's "
            f"application has not enabled (an admin enables it with PUT /app/{{name}}/builtins)"
            f": not run")


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        _BUILTINS_LOADED = True
        try:
            importlib.import_module("jsagent.batchlets")
        except Exception as exc:  # noqa: BLE001 - named refs then fail with a clear message
            log.warning("the built-in batchlets could not be loaded: %r", exc)


def resolve_ref(ref: str, kind: str = "batchlet") -> Any:
    """The class (or factory) named by ``ref``.

    Raises ImportError or AttributeError as Python does, ValueError for a malformed or unknown
    bare name.
    """
    found = registered(ref)
    if found is not None:
        return found
    if ":" in ref:
        module_name, _, attr_path = ref.partition(":")
    else:
        module_name, _, attr_path = ref.rpartition(".")
    if not module_name or not attr_path:
        _load_builtins()
        found = registered(ref)
        if found is not None:
            return found
        raise ValueError(f"{kind} ref {ref!r} is not 'package.module.Class', "
                         f"'package.module:Class' or a registered name")
    target: Any = importlib.import_module(module_name)
    for part in attr_path.split("."):
        target = getattr(target, part)
    return target


def inject(artifact: Any, properties: Mapping[str, str], job_context: JobContext | None,
           step_context: StepContext | None) -> Any:
    """Set contexts, job parameters and properties on ``artifact`` (see ``jsagent.api``)."""
    if job_context is not None:
        artifact.job_context = job_context
        artifact.job_parameters = dict(job_context.parameters)
    artifact.step_context = step_context
    for name, value in properties.items():
        if value == "":
            continue  # JSR-352 9.3.1: an empty value is not assigned
        names = [name]
        identifier = re.sub(r"\W", "_", name)
        if identifier != name and identifier.isidentifier():
            names.append(identifier)
        for attribute in names:
            if callable(getattr(type(artifact), attribute, None)):
                log.warning("property %r of %s would hide a method: not set", attribute,
                            type(artifact).__name__)
                continue
            setattr(artifact, attribute, value)
    return artifact


def build(ref: Ref, kind: str, substitution: Substitution, job_context: JobContext | None,
          step_context: StepContext | None) -> Any:
    """An instance of the artifact ``ref`` with its properties resolved in ``substitution``'s
    scope (the artifact's own properties come first in ``jobProperties`` lookups)."""
    name = substitution(ref.ref) or ""
    target = resolve_ref(name, kind)
    check_restricted(target, name, kind)
    artifact = target() if callable(target) else target
    properties = substitution.properties(ref.properties)
    return inject(artifact, properties, job_context, step_context)


def build_all(refs, kind: str, substitution: Substitution, job_context: JobContext | None,
              step_context: StepContext | None) -> list[Any]:
    return [build(ref, kind, substitution, job_context, step_context) for ref in refs]
