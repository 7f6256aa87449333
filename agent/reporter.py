"""Sends the agent's events to the bus: numbered, in order, one batch at a time, retried.

Events wait in memory while no bus is known or while the bus fails; a batch is re-sent with a
growing back-off until the bus answers 2xx, and only then is the next batch sent. Events the bus
refuses one by one (``{"applied": n, "refused": [seq, ...]}``: a stale attempt) are dropped, with
the rest of that execution attempt's events; ``drop`` removes the events of executions the bus
moved away.
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

    def drop(self, pairs) -> int:
        """Forget the unsent events of these ``(execution id, attempt)``; how many were."""
        pairs = {tuple(pair) for pair in pairs}
        with self._cond:
            return self._drop(lambda e: (e.get("execution-id"), e.get("attempt", 1)) in pairs)

    def _drop(self, predicate: Callable[[dict[str, Any]], bool]) -> int:  # with _cond held
        kept = deque(event for event in self._pending if not predicate(event))
        dropped = len(self._pending) - len(kept)
        if dropped:
            seqs = {event["seq"] for event in self._pending} - {event["seq"] for event in kept}
            for seq in seqs:
                self._on_stored.pop(seq, None)
            self._pending = kept
            self._cond.notify_all()
        return dropped

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
            while True:
                self._cond.wait_for(lambda: self._closed or (self._pending and self._bus_url))
                if self._closed:
                    return None
                # Linger a moment so that a burst travels in a few large batches, not many
                # small ones (each request costs the bus far more than the events in it).
                self._cond.wait_for(lambda: self._closed or
                                    len(self._pending) >= self._batch_size, LINGER_SECONDS)
                batch = list(itertools.islice(self._pending, self._batch_size))
                if batch:  # (``drop`` may have emptied the queue meanwhile)
                    return self._bus_url, batch

    def _run(self) -> None:
        while True:
            try:
                return self._deliver()
            except Exception:  # noqa: BLE001 - delivery must go on whatever happened
                log.exception("event delivery failed; going on")
                with self._cond:
                    self._cond.wait_for(lambda: self._closed, self._first_delay)

    def _deliver(self) -> None:
        delay = self._first_delay
        while (work := self._next_batch()) is not None:
            url, batch = work
            refused = self._post(url, batch)
            if refused is not None:
                with self._cond:
                    self._delivered(batch, refused)
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

    def _delivered(self, batch: list[dict[str, Any]], refused: set) -> None:  # _cond held
        """Take a batch the bus answered 2xx off the queue (some of it may have been dropped
        meanwhile); refused events are dropped with what waits of their execution attempt."""
        last = batch[-1]["seq"]
        while self._pending and self._pending[0]["seq"] <= last:
            self._pending.popleft()
        stale = {(e.get("execution-id"), e.get("attempt", 1)) for e in batch
                 if e["seq"] in refused}
        for event in batch:
            if event["seq"] in refused:
                self._on_stored.pop(event["seq"], None)
        if stale:
            dropped = self._drop(lambda e: (e.get("execution-id"), e.get("attempt", 1)) in stale)
            log.warning("the bus refused %d events of %s (a stale attempt); dropped them and %d "
                        "more", len(refused), sorted(stale), dropped)

    @staticmethod
    def _call(callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception:  # noqa: BLE001 - one failed callback must not stop delivery
            log.exception("an event acknowledgement callback failed")

    def _post(self, url: str, batch: list[dict[str, Any]]) -> set | None:
        """Send one batch: None when it must be sent again, else the seqs the bus refused."""
        try:
            answer = self._client.post(f"{url}/agent/{self.instance_id}/events",
                                       json={"events": batch})
        except httpx.HTTPError as exc:
            log.warning("events to %s: %s (will retry)", url, exc)
            return None
        if answer.is_success:
            return _refused(answer)
        log.warning("events to %s: HTTP %d%s (will retry)", url, answer.status_code,
                    _reason(answer))
        return None


def _refused(answer: httpx.Response) -> set:
    """The ``refused`` seqs of an event batch's answer (none when it has no such list)."""
    try:
        refused = answer.json().get("refused")
    except (ValueError, AttributeError):
        return set()
    if not isinstance(refused, list):
        return set()
    return {seq for seq in refused if isinstance(seq, int) and not isinstance(seq, bool)}


def _reason(answer: httpx.Response) -> str:
    """The bus's ``messages`` of a refusal (they never hold a secret), for the log."""
    try:
        messages = answer.json().get("messages")
    except (ValueError, AttributeError):
        return ""
    return f" ({'; '.join(str(m) for m in messages)})" if isinstance(messages, list) else ""
