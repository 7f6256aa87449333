"""EDN <-> the JSON form of a job (``docs/jsl.md``), through edn_format.

The EDN form has the JSON form's keys as keywords (``{:id "J" :steps [{:id "a" :batchlet
{:ref "m.A"}}]}``); keys may also be strings. Keywords stand for their name wherever a string is
expected, so enum values may be written ``:next`` or ``"next"``. Written EDN uses keyword keys,
keywords for ``:type``, ``:action`` and ``:checkpoint-policy``, and string keys for property
names (they are data, and need not be valid keywords).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import edn_format
from edn_format import Keyword

from jsbus import limits
from jsbus.errors import JobDefinitionError
from jsbus.jsl.codec import job_from_document, job_to_document
from jsbus.jsl.model import Job

ENUM_KEYS = frozenset({"type", "action", "checkpoint-policy"})
PROPERTY_KEYS = frozenset({"properties"})


def _plain(value: Any, path: str) -> Any:
    """edn_format's values as the JSON form's: dicts, lists, strings, numbers, booleans, None."""
    if isinstance(value, Keyword):
        return value.name
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if isinstance(key, Keyword):
                key = key.name
            elif not isinstance(key, str):
                raise JobDefinitionError(f"malformed EDN: {path or 'document'}: map key {key!r} "
                                         f"is not a keyword or a string")
            out[key] = _plain(item, f"{path}.{key}" if path else key)
        return out
    if isinstance(value, (list, tuple, edn_format.ImmutableList)):
        return [_plain(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, str):
        return str(value)  # a Char too
    if value is None or isinstance(value, (bool, int, float)):
        return value
    raise JobDefinitionError(f"malformed EDN: {path or 'document'}: {type(value).__name__} "
                             f"{value!r} has no place in a job")


def one_form(text: str | bytes, error: type[Exception], what: str = "one form") -> Any:
    """The single EDN form in ``text`` (raw, tags and keywords as edn_format reads them);
    ``error("malformed EDN: ...")`` for text that is not UTF-8, not EDN, or not one form."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error(f"malformed EDN: not UTF-8: {exc}") from None
    try:
        forms = edn_format.loads_all(text)
    except (ValueError, NotImplementedError, TypeError, IndexError, KeyError,
            AttributeError) as exc:
        # EDNDecodeError is a ValueError; unknown #tags raise NotImplementedError
        raise error(f"malformed EDN: {exc}") from None
    if len(forms) != 1:
        raise error(f"malformed EDN: expected {what}, found {len(forms)} forms")
    return forms[0]


def document_from_edn(text: str | bytes) -> Any:
    """The JSON form of one EDN document; JobDefinitionError("malformed EDN: ...") otherwise;
    LimitExceeded beyond ``[limits]`` (the nesting is checked on the text, before reading)."""
    limits.check_edn_text(text, "document")
    return limits.check_value(_plain(one_form(text, JobDefinitionError, "one job map"), ""),
                              "document")


def _edn(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        if key in PROPERTY_KEYS:
            return {str(name): item for name, item in value.items()}
        return {Keyword(name): _edn(item, name) for name, item in value.items()}
    if isinstance(value, list):
        return [_edn(item, key) for item in value]
    if key in ENUM_KEYS and isinstance(value, str):
        return Keyword(value)
    return value


def document_to_edn(document: Any) -> str:
    """EDN text of a JSON-form document, keys as keywords."""
    return edn_format.dumps(_edn(document), indent=2) + "\n"


def job_from_edn(text: str | bytes) -> Job:
    """Read an EDN job (its shape only; ``jsbus.jsl.validation`` checks its rules)."""
    return job_from_document(document_from_edn(text))


def job_to_edn(job: Job) -> str:
    return document_to_edn(job_to_document(job))
