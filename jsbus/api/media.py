"""Reading request bodies: bounded size, checked content type, clear 4xx messages.

Object bodies come as JSON or as EDN (the original console's ``application/edn``); both read as
the same JSON-shaped values (``jsbus.api.edn_media.plain_from_edn``).
"""
from __future__ import annotations

import json
from typing import Any

import falcon

from jsbus import limits as bounds
from jsbus.api import edn_media

JSON = "application/json"
EDN = edn_media.EDN


def media_type(req: falcon.Request) -> str:
    return (req.content_type or "").split(";")[0].strip().lower()


def read_body(req: falcon.Request, limit: int) -> bytes:
    """The raw body, at most ``limit`` bytes; larger bodies get 413 whatever they claim."""
    if req.content_length is not None and req.content_length > limit:
        raise falcon.HTTPContentTooLarge(
            title="Request body too large",
            description=f"the body is {req.content_length} bytes; the limit is {limit} bytes")
    body = req.bounded_stream.read(limit + 1)
    if len(body) > limit:
        raise falcon.HTTPContentTooLarge(title="Request body too large",
                                         description=f"the limit is {limit} bytes")
    return body


def require_type(req: falcon.Request, allowed: tuple[str, ...]) -> str:
    kind = media_type(req)
    if kind not in allowed:
        raise falcon.HTTPUnsupportedMediaType(
            title="Unsupported media type",
            description=f"Content-Type {kind or '(none)'} is not accepted here; "
                        f"use {' or '.join(allowed)}")
    return kind


def read_json(req: falcon.Request, limit: int, *, optional: bool = False) -> Any:
    """Parse a JSON or EDN body (by Content-Type) into JSON-shaped values. ``optional``: an
    empty body (no content type, JSON or EDN) reads as ``{}``."""
    kind = media_type(req)
    lenient = optional and not req.content_length and kind in ("", JSON, EDN)
    if not lenient:
        require_type(req, (JSON, EDN))
    body = read_body(req, limit)
    if lenient and not body.strip():
        return {}
    return _loads_edn(body) if kind == EDN else _loads(body)


def loads_json(body: bytes) -> Any:
    """A JSON body; 400 when it is not JSON."""
    return _loads(body)


def _loads(body: bytes) -> Any:
    """JSON within ``[limits]`` (depth checked on the text first, then strings and sizes)."""
    bounds.check_json_text(body)
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise falcon.HTTPBadRequest(title="Malformed JSON", description=str(exc)) from None
    except RecursionError:  # pragma: no cover - the text check comes first
        raise bounds.LimitExceeded("body: nested too deeply") from None
    return bounds.check_value(value)


def _loads_edn(body: bytes) -> Any:
    try:
        return edn_media.loads(body)  # checks [limits] itself
    except edn_media.MalformedEdn as exc:
        raise falcon.HTTPBadRequest(title="Malformed EDN", description=str(exc)) from None


class LimitsMiddleware:
    """Serves each request under the ``[limits]`` of ``config`` (``jsbus.limits.current``),
    and refuses (400) query parameters longer than ``limits.max_query_chars``."""

    def __init__(self, config):
        self.limits = bounds.Limits.from_config(config)

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        bounds.set_current(self.limits)
        bounds.check_query(req.params, self.limits)

    def process_response(self, req, resp, resource, req_succeeded) -> None:
        bounds.set_current(None)


def read_object(req: falcon.Request, limit: int, *, optional: bool = False) -> dict[str, Any]:
    value = read_json(req, limit, optional=optional)
    if not isinstance(value, dict):
        raise falcon.HTTPBadRequest(title="Bad request",
                                    description="the body must be a JSON object or an EDN map")
    return value
