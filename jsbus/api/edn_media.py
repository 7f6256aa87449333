"""``application/edn``: the original console's media type, beside JSON, on every JSON resource.

Answers are the JSON answers in the original's EDN shapes: keys as keywords (``:job/name``,
``:results``), statuses and log levels as ``{:db/ident :batch-status/completed}``, times as
``#inst``, agent instance ids as ``#uuid``, lists as vectors, job parameters as the EDN string
the original stored (``"{:p \\"x\\"}"``). Request bodies in EDN read as the JSON-shaped values the
resources expect (``plain_from_edn``). ``install(app)`` registers the handler and picks the
answer's form from ``Accept``: JSON by default, EDN when the client prefers it, 406 when it takes
neither.
"""
from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Set
from datetime import date, datetime, time, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

import edn_format
import falcon
import falcon.media
from edn_format import Char, Keyword

from jsbus import limits as bounds
from jsbus.jsl.edn import one_form
from jsbus.wire import rfc3339

EDN = "application/edn"
JSON = falcon.MEDIA_JSON

# Keys whose string values are enum entities of the original: {:db/ident :<namespace>/<name>}.
IDENT_KEYS = {
    "job-execution/batch-status": "batch-status",
    "step-execution/batch-status": "batch-status",
    "execution-log/level": "log-level",
    "test-execution/batch-status": "batch-status",
}
# Keys whose string values the original kept as plain keywords (its agent registry's :ready).
KEYWORD_KEYS = frozenset({"agent/status", "time-monitor/action",
                          "status-notification/batch-status"})
# Keys whose RFC 3339 string values are instants (jsbus.api.render, schedules, agents' monitor).
TIME_KEYS = frozenset({
    "job-execution/create-time", "job-execution/start-time", "job-execution/end-time",
    "job-execution/slot", "job-execution/not-before",
    "step-execution/start-time", "step-execution/end-time",
    "execution-log/date", "agent/last-seen",
    "fire-slot/time", "fire-slot/recorded-at", "schedule/last-slot",
    "fire/time", "fire/moved-from", "from", "time",
    "test-execution/create-time", "test-execution/start-time", "test-execution/end-time",
    "delivery/created-at", "delivery/next-attempt-at", "delivery/delivered-at",
})
# Keys whose values are lists of dates ("YYYY-MM-DD"): the original's [#inst ...].
DATE_LIST_KEYS = frozenset({"calendar/holidays"})
UUID_KEYS = frozenset({"agent/instance-id"})
# Keys whose map the original answered as its EDN text (pr-str of the parameters).
EDN_TEXT_KEYS = frozenset({"job-execution/job-parameters"})
# Keys whose value is a job document: its keys become keywords, its values stay as they are
# (a property named "time" is data, not an instant).
DOCUMENT_KEYS = frozenset({"job/document"})
# The original's downloads (jobs, calendars): a file the browser saves, not a page it shows.
FORCE_DOWNLOAD = "application/force-download"

# An EDN symbol's name (the part of a keyword on either side of its '/'): a JSON key that is
# not one stays a string key, so data maps (metrics, stats, properties) keep any key.
_REST = r"[A-Za-z0-9*!_?$%&=<>.+\-#]*"
_NAME = rf"[A-Za-z*!_?$%&=<>]{_REST}|[-+.](?:[A-Za-z*!_?$%&=<>.+\-#]{_REST})?"
_KEYWORD = re.compile(rf"(?:{_NAME})(?:/(?:{_NAME}))?")


class MalformedEdn(ValueError):
    """An EDN body that is not EDN, or holds what has no JSON form (symbols, tagged values)."""


# --- answers: JSON-shaped values -> EDN --------------------------------------------------------

def edn_key(key: Any) -> Any:
    """A keyword when the key can be one (``job/name``, ``results``); else the string itself."""
    if isinstance(key, str) and _KEYWORD.fullmatch(key):
        return Keyword(key)
    return key


def edn_value(value: Any, key: str = "") -> Any:
    """The EDN value of ``value`` found under ``key`` (a JSON answer's key)."""
    if key in DOCUMENT_KEYS:
        return _document(value)
    if isinstance(value, Mapping):
        if key in EDN_TEXT_KEYS:
            return edn_format.dumps({edn_key(k): edn_value(v) for k, v in value.items()})
        return {edn_key(k): edn_value(v, k if isinstance(k, str) else "")
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if key in DATE_LIST_KEYS:
            return [_day(item) for item in value]
        return [edn_value(item, key) for item in value]
    if isinstance(value, str):
        return _edn_string(value, key)
    return value


def _document(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {edn_key(k): _document(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_document(item) for item in value]
    return value


def _edn_string(value: str, key: str) -> Any:
    if key in IDENT_KEYS and value.startswith(IDENT_KEYS[key] + "/"):
        return {Keyword("db/ident"): Keyword(value)}
    if key in KEYWORD_KEYS and _KEYWORD.fullmatch(value):
        return Keyword(value)
    if key in TIME_KEYS:
        return _instant(value)
    if key in UUID_KEYS:
        try:
            return uuid.UUID(value)
        except ValueError:
            return value
    return value


def _instant(value: str) -> Any:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _day(value: Any) -> Any:
    try:
        return datetime.combine(date.fromisoformat(str(value)[:10]), time(), timezone.utc)
    except ValueError:
        return value


def dumps(media: Any) -> str:
    return edn_format.dumps(edn_value(media))


def attachment(resp: falcon.Response, media: Any, filename: str,
               content_type: str = FORCE_DOWNLOAD) -> None:
    """``media`` as an EDN file to save, the way the original's downloads sent it:
    ``Content-Type: application/force-download`` and ``Content-disposition: attachment``."""
    resp.data = (dumps(media) + "\n").encode("utf-8")
    resp.content_type = content_type
    resp.set_header("Content-disposition", f'attachment; filename="{filename}"')


# --- requests: EDN -> JSON-shaped values -------------------------------------------------------

def loads(body: bytes | str) -> Any:
    """The JSON-shaped value of one EDN form; MalformedEdn("malformed EDN: ...") otherwise;
    LimitExceeded (400) for one beyond ``[limits]`` (depth checked before it is read)."""
    bounds.check_edn_text(body)
    return bounds.check_value(plain_from_edn(one_form(body, MalformedEdn)))


def loads_sequence(body: bytes | str) -> list | None:
    """The JSON-shaped items of a body that is one EDN vector (or list); None for any other
    body, malformed ones included (a caller reading something else reports those).
    MalformedEdn when an item holds what has no JSON form; LimitExceeded beyond ``[limits]``."""
    bounds.check_edn_text(body)
    try:
        form = one_form(body, MalformedEdn)
    except MalformedEdn:
        return None
    if not isinstance(form, (edn_format.ImmutableList, list, tuple)):
        return None
    return bounds.check_value(plain_from_edn(form))


def plain_from_edn(value: Any, path: str = "") -> Any:
    """``{:db/ident :x/y}`` -> ``"x/y"``, keywords -> ``"ns/name"``, ``#inst`` -> RFC 3339,
    ``#uuid`` -> its string, vectors, lists and sets -> lists, maps -> dicts with string keys."""
    if isinstance(value, Keyword):
        return value.name
    if isinstance(value, Mapping):
        if len(value) == 1 and Keyword("db/ident") in value:
            return plain_from_edn(value[Keyword("db/ident")], path)
        plain = {}
        for key, item in value.items():
            key = _plain_key(key, path)
            plain[key] = plain_from_edn(item, f"{path}.{key}" if path else key)
        return plain
    if isinstance(value, (list, tuple, edn_format.ImmutableList, Set)):
        return [plain_from_edn(item, f"{path}[{i}]") for i, item in enumerate(value)]
    return _plain_scalar(value, path)


def _plain_key(key: Any, path: str) -> str:
    if isinstance(key, Keyword):
        return key.name
    if isinstance(key, str):
        return str(key)
    raise MalformedEdn(f"malformed EDN: {path or 'body'}: map key {key!r} is not a keyword "
                       f"or a string")


def _plain_scalar(value: Any, path: str) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value if value.tzinfo else value.replace(tzinfo=timezone.utc))
    if isinstance(value, date):
        return rfc3339(datetime.combine(value, time(), timezone.utc))
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (str, Char)):
        return str(value)
    if isinstance(value, (Decimal, Fraction)):
        return float(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    raise MalformedEdn(f"malformed EDN: {path or 'body'}: {type(value).__name__} {value!r} "
                       f"has no place in a request")


# --- falcon ------------------------------------------------------------------------------------

class EdnHandler(falcon.media.BaseHandler):
    """Serializes answers (``resp.media``) and reads ``req.get_media()`` bodies as EDN."""

    def serialize(self, media: Any, content_type: str | None = None) -> bytes:
        return (dumps(media) + "\n").encode("utf-8")

    def deserialize(self, stream, content_type: str | None, content_length: int | None) -> Any:
        try:
            return loads(stream.read())
        except MalformedEdn as exc:
            raise falcon.MediaMalformedError(EDN, description=str(exc)) from None


def preferred(req: falcon.Request) -> str | None:
    """JSON or EDN, whichever ``Accept`` prefers (JSON on a tie, as for ``*/*``); None for
    neither."""
    return req.client_prefers([JSON, EDN])


class EdnNegotiation:
    """Middleware: EDN answers for clients that prefer them; 406 for clients that take neither
    JSON nor EDN, before anything runs. ``exempt`` resources negotiate for themselves."""

    def __init__(self, exempt: tuple[type, ...]):
        self.exempt = exempt

    def process_resource(self, req: falcon.Request, resp: falcon.Response, resource,
                         params) -> None:
        if resource is None or isinstance(resource, self.exempt):
            return
        if preferred(req) is None:
            raise falcon.HTTPNotAcceptable(
                description=f"Accept {req.accept!r} names neither {JSON} nor {EDN}")

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource,
                         req_succeeded: bool) -> None:
        carries_media = (resp.media is not None and resp.text is None and resp.data is None
                         and resp.stream is None)
        if carries_media and preferred(req) == EDN:
            resp.content_type = EDN


def install(app: falcon.App) -> None:
    """Register ``application/edn`` on ``app`` (answers and ``req.get_media``) with its
    negotiation; installing twice changes nothing."""
    if EDN in app.resp_options.media_handlers:
        return
    # imported here: these resources read bodies through jsbus.api.media, which imports this
    from jsbus.api.components import ArtifactResource
    from jsbus.api.convert import ConvertResource
    from jsbus.api.jobs import JobDocumentResource
    handler = EdnHandler()
    app.resp_options.media_handlers[EDN] = handler
    app.req_options.media_handlers[EDN] = handler
    app.add_middleware(EdnNegotiation((ArtifactResource, ConvertResource, JobDocumentResource)))
