"""Bounds on what a request may hold: nesting depth, string length, list and object size
(``[limits]`` in ``conf/jsbus.toml``). Every check names where the value broke the limit
(``body.steps[3].id``) and raises ``LimitExceeded``, a ``ValidationError``: a 400.

The API sets the limits of its configuration for the request being served (``using``; the
parsers call ``current()``); code outside a request gets the defaults. Checks never recurse,
so a hostile body cannot exhaust the interpreter's stack.
"""
from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Iterator

from jsbus.errors import ValidationError


class LimitExceeded(ValidationError):
    """A request that breaks one of the ``[limits]``: 400."""


@dataclass(frozen=True)
class Limits:
    max_depth: int = 32
    max_string: int = 65_536
    max_items: int = 10_000
    max_query_chars: int = 2_048

    @classmethod
    def from_config(cls, config) -> Limits:
        section = config.section("limits")
        return cls(**{key: int(value) for key, value in section.items()
                      if key in cls.__dataclass_fields__})


_current: contextvars.ContextVar[Limits | None] = contextvars.ContextVar("jsbus_limits",
                                                                         default=None)


def current() -> Limits:
    """The limits of the request being served (the defaults outside one)."""
    return _current.get() or Limits()


def set_current(limits: Limits | None) -> contextvars.Token:
    return _current.set(limits)


@contextlib.contextmanager
def using(limits: Limits) -> Iterator[Limits]:
    token = _current.set(limits)
    try:
        yield limits
    finally:
        _current.reset(token)


def _child(path: str, key: Any) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}"


def check_value(value: Any, where: str = "body", limits: Limits | None = None) -> Any:
    """``value`` (JSON-shaped: dicts, lists, strings, scalars) when it is within ``limits``;
    LimitExceeded naming the first place that is not. Iterative: any depth is safe; the path
    of an item is spelled out only for the one that breaks a limit."""
    limits = limits or current()
    max_string, max_items, max_depth = limits.max_string, limits.max_items, limits.max_depth
    # (item, its parent's entry, its key, depth): an entry links to its parent for the path.
    stack: list[tuple] = [(value, None, where, 1)]
    while stack:
        entry = stack.pop()
        item = entry[0]
        if isinstance(item, str):
            if len(item) > max_string:
                raise LimitExceeded(f"{_path(entry)}: a string of {len(item)} characters; the "
                                    f"limit is {max_string} (limits.max_string)")
            continue
        if isinstance(item, (Mapping, list, tuple)):
            depth = entry[3]
            if depth > max_depth:
                raise LimitExceeded(f"{_path(entry)}: nested deeper than {max_depth} levels "
                                    f"(limits.max_depth)")
            if len(item) > max_items:
                kind = "an object" if isinstance(item, Mapping) else "a list"
                raise LimitExceeded(f"{_path(entry)}: {kind} of {len(item)} items; the limit "
                                    f"is {max_items} (limits.max_items)")
            if isinstance(item, Mapping):
                for key, child in item.items():
                    if isinstance(key, str) and len(key) > max_string:
                        raise LimitExceeded(f"{_path(entry)}: a key of {len(key)} characters; "
                                            f"the limit is {max_string} (limits.max_string)")
                    if isinstance(child, (str, Mapping, list, tuple)):
                        stack.append((child, entry, key, depth + 1))
            else:
                stack.extend((child, entry, i, depth + 1) for i, child in enumerate(item)
                             if isinstance(child, (str, Mapping, list, tuple)))
    return value


def _path(entry: tuple) -> str:
    keys = []
    while entry is not None:
        keys.append(entry[2])
        entry = entry[1]
    path = keys.pop()
    for key in reversed(keys):
        path = _child(path, key)
    return path


# Brackets, and what hides brackets: strings, comments, character literals (``\(``).
_JSON_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"?', re.DOTALL)
_NOT_BRACKETS = bytes(code for code in range(256) if code not in b"[]{}")
_OPENING = frozenset(b"[{")
_EDN_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"?|;[^\n]*|\\.|[\[\](){}]', re.DOTALL)


def _scan_depth(tokens: Iterator[Any], opening: tuple, limits: Limits, where: str) -> None:
    depth = 0
    for match in tokens:
        token = match.group()
        if token in opening:
            depth += 1
            if depth > limits.max_depth:
                raise LimitExceeded(f"{where}: nested deeper than {limits.max_depth} levels "
                                    f"(limits.max_depth)")
        elif len(token) == 1 and token not in ('"', ";", "\\", b'"'):
            depth = max(0, depth - 1)


def check_json_text(body: bytes, where: str = "body", limits: Limits | None = None) -> None:
    """LimitExceeded when the JSON text nests deeper than allowed: checked on the text, before
    a parser builds (recursively) what it holds. A text with fewer opening brackets than the
    limit cannot nest deeper (counted in C); any other is scanned bracket by bracket, its
    strings taken out first."""
    limits = limits or current()
    if body.count(b"[") + body.count(b"{") <= limits.max_depth:
        return
    brackets = _JSON_STRINGS.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = 0
    for code in brackets:
        if code in _OPENING:
            depth += 1
            if depth > limits.max_depth:
                raise LimitExceeded(f"{where}: nested deeper than {limits.max_depth} levels "
                                    f"(limits.max_depth)")
        else:
            depth = max(0, depth - 1)


def check_edn_text(text: str | bytes, where: str = "body", limits: Limits | None = None) -> None:
    """As ``check_json_text``, for EDN (vectors, lists, maps and sets)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    _scan_depth(_EDN_TOKENS.finditer(text), ("[", "(", "{"), limits or current(), where)


def check_query(params: Mapping[str, Any], limits: Limits | None = None) -> None:
    """LimitExceeded for a query parameter value (or name) longer than allowed."""
    limits = limits or current()
    for name, value in params.items():
        values = value if isinstance(value, list) else [value]
        if len(values) > limits.max_items:
            raise LimitExceeded(f"query parameter {name[:64]}: given {len(values)} times")
        for text in [name, *values]:
            if isinstance(text, str) and len(text) > limits.max_query_chars:
                raise LimitExceeded(f"query parameter {name[:64]}: {len(text)} characters; "
                                    f"the limit is {limits.max_query_chars} "
                                    f"(limits.max_query_chars)")
