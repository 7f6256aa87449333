"""Every error answer is ``{"messages": [...]}``; domain errors map to HTTP here, once."""
from __future__ import annotations

import logging

import falcon

from jsbus.errors import (Conflict, NotFound, PayloadTooLarge, StorageError, TransportError,
                          ValidationError)
from jsbus.redact import redact_text

log = logging.getLogger(__name__)


def _answer(resp: falcon.Response, status: str, messages: list[str]) -> None:
    resp.status = status
    resp.media = {"messages": messages}


def _validation(req, resp, exc: ValidationError, params) -> None:
    status = falcon.HTTP_413 if isinstance(exc, PayloadTooLarge) else falcon.HTTP_400
    _answer(resp, status, exc.messages)


def _not_found(req, resp, exc: NotFound, params) -> None:
    _answer(resp, falcon.HTTP_404, [str(exc)])


def _conflict(req, resp, exc: Conflict, params) -> None:
    _answer(resp, falcon.HTTP_409, [str(exc)])


def _storage(req, resp, exc: StorageError, params) -> None:
    message = redact_text(str(exc))  # a driver's message may quote its connection string
    log.error("storage failed on %s %s: %s", req.method, req.path, message)
    _answer(resp, falcon.HTTP_503, [f"storage unavailable: {message}"])


def _transport(req, resp, exc: TransportError, params) -> None:
    _answer(resp, falcon.HTTP_502, [str(exc)])


def _unexpected(req, resp, exc: Exception, params) -> None:
    if isinstance(exc, falcon.HTTPError):
        raise exc  # falcon serialises it with our serializer below
    log.exception("internal error on %s %s", req.method, req.path)
    _answer(resp, falcon.HTTP_500, [f"Internal server error: {type(exc).__name__}"])


def _message(req, exc: falcon.HTTPError) -> str:
    if exc.description:
        return exc.description
    if isinstance(exc, falcon.HTTPMethodNotAllowed):
        allowed = (exc.headers or {}).get("Allow", "")
        return f"{req.method} is not allowed on {req.path} (allowed: {allowed})"
    if isinstance(exc, falcon.HTTPNotFound):
        return f"no such resource: {req.path}"
    return exc.title or str(exc.status)


def _serialize_http_error(req, resp, exc: falcon.HTTPError) -> None:
    resp.media = {"messages": [_message(req, exc)]}
    resp.content_type = falcon.MEDIA_JSON


def install(app: falcon.App) -> None:
    app.add_error_handler(Exception, _unexpected)
    app.add_error_handler(ValidationError, _validation)
    app.add_error_handler(NotFound, _not_found)
    app.add_error_handler(Conflict, _conflict)
    app.add_error_handler(StorageError, _storage)
    app.add_error_handler(TransportError, _transport)
    app.set_error_serializer(_serialize_http_error)
