"""Reading the built-in batchlets' properties (strings, as the worker sets them).

A property the step does not set, or sets to an empty string, counts as unset. Tests and
callers that build a batchlet themselves may also set Python values (a list, a dict, a number):
they are accepted as the parsed form.
"""
from __future__ import annotations

import json
import shlex
from typing import Any
from urllib.parse import unquote, urlparse

TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
FALSE_WORDS = frozenset({"false", "no", "off", "0"})


def text(owner: Any, name: str) -> Any:
    """The property ``name`` of ``owner``, or None when unset or blank."""
    value = getattr(owner, name, None)
    if isinstance(value, str) and not value.strip():
        return None
    return value


def as_list(value: Any, what: str) -> list[str]:
    """A list of strings from a JSON list (a value starting with ``[``) or a shlex string."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, str) and value.lstrip().startswith("["):
        try:
            items = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"{what}: not a JSON list of strings: {exc}") from None
        if not isinstance(items, list):
            raise ValueError(f"{what}: not a JSON list of strings: {value!r}")
    elif isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"{what}: cannot split {value!r} with shell rules: {exc}") from None
    else:
        return [str(value)]
    if any(isinstance(item, (list, dict)) or item is None for item in items):
        raise ValueError(f"{what}: the JSON list must hold strings: {value!r}")
    return [item if isinstance(item, str) else json.dumps(item) for item in items]


def as_bool(value: Any, what: str) -> bool:
    """``true``/``yes``/``on``/``1`` (any case) is True; unset and the opposites are False."""
    if value is None or isinstance(value, bool):
        return bool(value)
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"{what}: expected true or false, got {value!r}")


def as_seconds(value: Any, what: str) -> float | None:
    """A positive number of seconds, or None when unset."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: expected a number of seconds, got {value!r}") from None
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"{what}: expected a positive number of seconds, got {value!r}")
    return seconds


def as_env(value: Any, what: str, base: dict[str, str]) -> dict[str, str]:
    """``base`` updated with a JSON object; a ``null`` value removes the variable."""
    env = dict(base)
    if value is None:
        return env
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"{what}: not a JSON object: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what}: not a JSON object: {value!r}")
    for name, item in value.items():
        if item is None:
            env.pop(str(name), None)
        elif isinstance(item, str):
            env[str(name)] = item
        else:
            env[str(name)] = json.dumps(item)
    return env


def as_paths(value: Any, separator: str, what: str) -> list[str]:
    """Path entries from a JSON list or a ``separator``-separated string (which cannot hold
    URLs when the separator is ``:``); ``file:`` URLs become paths, other URLs are refused."""
    if value is None:
        return []
    if isinstance(value, str) and not value.lstrip().startswith("["):
        entries = [entry.strip() for entry in value.split(separator)]
    else:
        entries = as_list(value, what)
    paths = []
    for entry in entries:
        if not entry:
            continue
        parsed = urlparse(entry)
        if parsed.scheme == "file":
            paths.append(unquote(parsed.path))
        elif len(parsed.scheme) > 1:  # a one-letter scheme would be a drive letter
            raise ValueError(f"{what}: {entry!r} is not a local path or file: URL")
        else:
            paths.append(entry)
    return paths
