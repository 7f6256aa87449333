"""Sends the agent's events to the bus: numbered, in order, one batch at a time, retried.

Events wait in memory while no bus is known or while the bus fails; a batch is re-sent with a
growing back-off until the bus answers 2xx, and only then is the next batch sent.
"""
from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from typing import Any, Callable

import httpx

log = logging.getLogger(__name__)
LINGER_SECONDS = 0.02


def bus_client(timeout: float) -> httpx.Client:
    """An httpx client for the bus: explicit timeouts, no proxies from the environment."""
    return httpx.Client(timeout=httpx.Timeout(timeout), trust_env=False)


class EventReporter:
    """Numbers events (``seq``) and delivers them to ``POST {bus}/agent/{id}/events``."""

    def __init__(self, instance_id: str, bus_url: str, client: httpx.Client, batch_size: int,
                 backoff: tuple[float, float] = (0.1, 5.0)):
        self.instance_id = instance_id
        self._bus_url = bus_url.rstrip("/")
        self._client = client
        self._batch_size = max(1, int(batch_size))
        self._first_delay, self._max_delay = backoff
        self._pending: deque[dict[str, Any]] = deque()
        self._on_stored: dict[int, Callable[[], None]] = {}  # seq -> called once stored
        self._cond = threading.Condition()
        self._seq = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="jsagent-events", daemon=True)

    @property
    def bus_url(self) -> str:
        """The bus events and heartbeats go to ('' while none is known)."""
        with self._cond:
            return self._bus_url

    def join(self, bus_url: str) -> None:
        """Report to ``bus_url`` from now on; events not yet delivered go there too."""
        with self._cond:
            self._bus_url = bus_url.rstrip("/")
            self._cond.notify_all()

    def emit(self, event: dict[str, Any], on_stored: Callable[[], None] | None = None) -> int:
        """Queue one event; returns the ``seq`` it got. ``on_stored`` is called (on the
        reporter's thread) once the bus has acknowledged the batch that carried the event."""
        with self._cond:
            self._seq += 1
            self._pending.append({"seq": self._seq, **event})
            if on_stored is not None:
                self._on_stored[self._seq] = on_stored
            self._cond.notify_all()
            return self._seq

    def pending(self) -> int:
        """How many events wait for delivery."""
        with self._cond:
            return len(self._pending)

    def start(self) -> None:
        self._thread.start()

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until every queued event is delivered."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending, timeout)

    def close(self, timeout: float) -> bool:
        """Flush for up to ``timeout`` seconds, then stop sending; True if nothing was lost."""
        delivered = self.flush(timeout if self.bus_url else 0)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if not delivered:
            log.warning("%d events were not delivered to the bus", self.pending())
        return delivered

    def _next_batch(self) -> tuple[str, list[dict[str, Any]]] | None:
        with self._cond:
            self._cond.wait_for(lambda: self._closed or (self._pending and self._bus_url))
            if self._closed:
                return None
            # Linger a moment so that a burst travels in a few large batches, not many small
            # ones (each request costs the bus far more than the events in it).
            self._cond.wait_for(lambda: self._closed or len(self._pending) >= self._batch_size,
                                LINGER_SECONDS)
            return self._bus_url, list(itertools.islice(self._pending, self._batch_size))

    def _run(self) -> None:
        delay = self._first_delay
        while (work := self._next_batch()) is not None:
            url, batch = work
            if self._post(url, batch):
                with self._cond:
                    for _ in batch:
                        self._pending.popleft()
                    callbacks = [self._on_stored.pop(event["seq"]) for event in batch
                                 if event["seq"] in self._on_stored]
                    self._cond.notify_all()
                for callback in callbacks:
                    self._call(callback)
                delay = self._first_delay
                continue
            with self._cond:
                self._cond.wait_for(lambda: self._closed or self._bus_url != url, delay)
            delay = min(delay * 2, self._max_delay)

    @staticmethod
    def _call(callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception:  # noqa: BLE001 - one failed callback must not stop delivery
            log.exception("an event acknowledgement callback failed")

    def _post(self, url: str, batch: list[dict[str, Any]]) -> bool:
        try:
            answer = self._client.post(f"{url}/agent/{self.instance_id}/events",
                                       json={"events": batch})
        except httpx.HTTPError as exc:
            log.warning("events to %s: %s (will retry)", url, exc)
            return False
        if answer.is_success:
            return True
        log.warning("events to %s: HTTP %d%s (will retry)", url, answer.status_code,
                    _reason(answer))
        return False


def _reason(answer: httpx.Response) -> str:
    """The bus's ``messages`` of a refusal (they never hold a secret), for the log."""
    try:
        messages = answer.json().get("messages")
    except (ValueError, AttributeError):
        return ""
    return f" ({'; '.join(str(m) for m in messages)})" if isinstance(messages, list) else ""


class Heartbeat:
    """Posts the agent document to ``POST {bus}/agent/{id}/heartbeat`` every interval.

    A bus that answers with ``heartbeat-interval`` sets the interval from then on.
    """

    def __init__(self, reporter: EventReporter, document, client: httpx.Client, interval: float,
                 keys=None):
        self._reporter = reporter
        self._keys = keys  # jsagent.trust.AgentKeys: enrollment fields and answers
        self._document = document
        self._client = client
        self.interval = float(interval)
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jsagent-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def beat_now(self) -> None:
        """Send the next heartbeat at once (after a join)."""
        self._wake.set()

    def close(self) -> None:
        self._closed.set()
        self._wake.set()

    def _run(self) -> None:
        while not self._closed.is_set():
            url = self._reporter.bus_url
            if url:
                try:
                    self._send(url)
                except Exception:  # noqa: BLE001 - the next beat may do better
                    log.exception("heartbeat to %s failed", url)
            self._wake.wait(self.interval)
            self._wake.clear()

    def _send(self, url: str) -> None:
        try:
            document = self._document()
            if self._keys is not None:
                document = {**document, **self._keys.heartbeat_fields()}
            answer = self._client.post(f"{url}/agent/{self._reporter.instance_id}/heartbeat",
                                       json=document)
        except httpx.HTTPError as exc:
            log.warning("heartbeat to %s: %s", url, exc)
            return
        if not answer.is_success:
            log.warning("heartbeat to %s: HTTP %d%s", url, answer.status_code,
                        _reason(answer))
            return
        try:
            body = answer.json()
            interval = body.get("heartbeat-interval")
        except (ValueError, AttributeError):
            body, interval = None, None
        if self._keys is not None and self._keys.accept(body):
            self.beat_now()  # the first signed heartbeat completes the enrollment
        if isinstance(interval, (int, float)) and not isinstance(interval, bool) and interval > 0:
            self.interval = max(0.1, float(interval))
