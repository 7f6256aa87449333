"""Built-in notifier ``webhook``: ``POST <notifications.url>/<type>`` with the notification.

The body is JSON by default; with ``notifications.format = "edn"`` it is EDN as the original's
notificator expects it (``Content-Type: application/edn``; plain keyword keys such as
``:job-name``, statuses as keywords such as ``:batch-status/failed``, times as ``#inst``), so a
notificator of the original, or anything routing on the path's last segment, works unchanged.

One call is one attempt: a 2xx answer delivers; 408, 425, 429 and 5xx answers and network
failures are worth retrying (the bus does, with backoff); other answers are permanent.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import edn_format
import httpx
from edn_format import Keyword

from jsbus.api.edn_media import edn_value
from jsbus.backends import Notifier, NotifierBackend
from jsbus.errors import ConfigurationError, NotificationError
from jsbus.hookspecs import hookimpl
from jsbus.model import Delivery

RETRYABLE = frozenset({408, 425, 429})
KEYWORD_VALUES = frozenset({"batch-status", "previous-batch-status", "action"})
TIME_SUFFIX = "-time"


def edn_body(payload: dict[str, Any]) -> str:
    """The payload in the original notificator's EDN shape."""
    prepared: dict[str, Any] = {}
    for key, value in payload.items():
        if key in KEYWORD_VALUES and isinstance(value, str):
            value = Keyword(value if key != "action" else f"action/{value}")
        elif key.endswith(TIME_SUFFIX) and isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(
                timezone.utc)
        prepared[key] = value
    return edn_format.dumps(edn_value(prepared))


class WebhookNotifier(Notifier):
    def __init__(self, config):
        self.url = str(config.get("notifications.url") or "").rstrip("/")
        self.format = str(config.get("notifications.format")).lower()
        if self.format not in ("json", "edn"):
            raise ConfigurationError(f"notifications.format must be json or edn, "
                                     f"not {self.format!r}")
        self._client = httpx.Client(timeout=float(config.get("notifications.timeout")))

    def send(self, delivery: Delivery) -> None:
        if not self.url:
            raise NotificationError("notifications.url is not set: no webhook to send to",
                                    permanent=True)
        target = f"{self.url}/{quote(delivery.type, safe='')}"
        if self.format == "edn":
            content, kind = edn_body(delivery.payload).encode(), "application/edn"
        else:
            content, kind = json.dumps(delivery.payload).encode(), "application/json"
        headers = {"Content-Type": kind, "X-Jsbus-Delivery": str(delivery.id),
                   "X-Jsbus-Event": delivery.event}
        try:
            response = self._client.post(target, content=content, headers=headers)
        except httpx.HTTPError as exc:
            raise NotificationError(f"POST {target}: {type(exc).__name__}: {exc}") from None
        if response.is_success:
            return
        status = response.status_code
        raise NotificationError(f"POST {target}: HTTP {status} {response.text[:200]}",
                                permanent=not (status >= 500 or status in RETRYABLE))

    def close(self) -> None:
        self._client.close()


@hookimpl
def jsbus_register_notifiers(config):
    return [NotifierBackend(name="webhook", factory=WebhookNotifier)]
