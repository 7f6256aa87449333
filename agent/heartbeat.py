"""Heartbeats to the bus, and self-fencing when they stop reaching it (``docs/protocol.md``).

Each heartbeat posts the agent document (with ``agent/executions``, what the agent runs, and
``agent/draining``). The answer may set ``heartbeat-interval``, gives the ``lease``, and lists
in ``moved`` the ``[execution id, attempt]`` the bus no longer assigns to this agent.

``SelfFence`` watches the heartbeats: once none succeeded (a 2xx answer) for longer than
``agent.self_fence`` x the last lease, it fences the agent (the runtime stops every execution and
takes no new one) so that nothing of its work still runs when the bus declares it lost; the next
heartbeat that succeeds lifts the fence.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

import httpx

from jsagent.reporter import EventReporter, _reason

log = logging.getLogger(__name__)
FENCE_CHECK = 0.1  # seconds between the self-fence's checks


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def moved_pairs(body: Any) -> list[tuple[int, int]]:
    """The ``moved`` ``[execution id, attempt]`` pairs of a heartbeat answer (bad ones left out)."""
    raw = body.get("moved") if isinstance(body, dict) else None
    if not isinstance(raw, list):
        return []
    return [(item[0], item[1]) for item in raw
            if isinstance(item, (list, tuple)) and len(item) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in item)]


class SelfFence:
    """Calls ``on_fence(why)`` once no heartbeat succeeded for ``factor`` x lease seconds, and
    ``on_unfence()`` at the next success. ``factor`` <= 0: never fences."""

    def __init__(self, factor: float, on_fence: Callable[[str], None],
                 on_unfence: Callable[[], None], clock: Callable[[], float] = time.monotonic):
        self.factor = float(factor)
        self._on_fence, self._on_unfence, self._clock = on_fence, on_unfence, clock
        self._lock = threading.Lock()
        self._last: float | None = None  # the last successful heartbeat
        self._lease: float | None = None
        self.fenced = False
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jsagent-fence", daemon=True)

    def start(self) -> SelfFence:
        if self.factor > 0:
            self._thread.start()
        return self

    def close(self) -> None:
        self._closed.set()

    def max_interval(self) -> float | None:
        """The longest wait between heartbeats that leaves room for three in a fence window."""
        with self._lock:
            lease = self._lease
        return self.factor * lease / 3 if self.factor > 0 and lease else None

    def succeeded(self, lease: float | None) -> None:
        """A heartbeat was answered 2xx (with this ``lease``, if it gave one)."""
        with self._lock:
            self._last = self._clock()
            self._lease = lease or self._lease
            was_fenced, self.fenced = self.fenced, False
        if was_fenced:
            self._on_unfence()

    def _run(self) -> None:
        while not self._closed.wait(FENCE_CHECK):
            with self._lock:
                if self.fenced or self._last is None or self._lease is None:
                    continue
                silence = self._clock() - self._last
                if silence <= self.factor * self._lease:
                    continue
                self.fenced = True
                lease = self._lease
            try:
                self._on_fence(f"no heartbeat reached the bus for {silence:.1f} s (more than "
                               f"self_fence {self.factor:g} x lease {lease:g} s)")
            except Exception:  # noqa: BLE001 - keep watching
                log.exception("self-fencing failed")


class Heartbeat:
    """Posts the agent document to ``POST {bus}/agent/{id}/heartbeat`` every interval.

    A bus that answers with ``heartbeat-interval`` sets the interval from then on; ``on_moved``
    gets the ``moved`` pairs of an answer; ``fence`` hears of every successful heartbeat.
    """

    def __init__(self, reporter: EventReporter, document, client: httpx.Client, interval: float,
                 keys=None, on_moved: Callable[[list], None] | None = None,
                 fence: SelfFence | None = None):
        self._reporter = reporter
        self._keys = keys  # jsagent.trust.AgentKeys: enrollment fields and answers
        self._document = document
        self._client = client
        self._on_moved = on_moved
        self._fence = fence
        self.interval = float(interval)
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jsagent-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if self._fence is not None:
            self._fence.start()

    def beat_now(self) -> None:
        """Send the next heartbeat at once (after a join, when draining starts)."""
        self._wake.set()

    def close(self) -> None:
        self._closed.set()
        self._wake.set()
        if self._fence is not None:
            self._fence.close()

    def _run(self) -> None:
        while not self._closed.is_set():
            url = self._reporter.bus_url
            if url:
                try:
                    self._send(url)
                except Exception:  # noqa: BLE001 - the next beat may do better
                    log.exception("heartbeat to %s failed", url)
            self._wake.wait(self.period())
            self._wake.clear()

    def period(self) -> float:
        """Seconds to the next heartbeat: the interval, but short enough that a heartbeat or
        two may fail without the agent fencing itself."""
        limit = self._fence.max_interval() if self._fence is not None else None
        return min(self.interval, max(0.1, limit)) if limit else self.interval

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
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        if self._keys is not None and self._keys.accept(body):
            self.beat_now()  # the first signed heartbeat completes the enrollment
        if self._fence is not None:
            self._fence.succeeded(_number(body.get("lease")))
        moved = moved_pairs(body)
        if moved and self._on_moved is not None:
            try:
                self._on_moved(moved)
            except Exception:  # noqa: BLE001 - the next answer lists them again
                log.exception("could not stop the executions the bus moved: %s", moved)
        interval = _number(body.get("heartbeat-interval"))
        if interval is not None:
            self.interval = max(0.1, interval)
