"""Checkpoints: the worker writes a ``checkpoint`` event numbered ``ack`` and waits until the
agent answers ``{"ack": n}`` on stdin (the bus stored it) before it reads on."""
from __future__ import annotations

import threading
from typing import Any

from jsagent.engine.metrics import snapshot
from jsagent.events import checkpoint_event


class AckBoard:
    """Checkpoint numbers handed out and acknowledged (acks may come in any order).

    ``wait=False`` (no control channel on stdin) makes every wait return at once.
    """

    def __init__(self, wait: bool = True):
        self._cond = threading.Condition()
        self._next = 0
        self._acked: set[int] = set()
        self._closed = not wait
        self._waits = wait

    def number(self) -> int:
        with self._cond:
            self._next += 1
            return self._next

    def acknowledge(self, number: Any) -> None:
        with self._cond:
            if isinstance(number, int) and not isinstance(number, bool):
                self._acked.add(number)
            self._cond.notify_all()

    def close(self) -> None:
        """No ack can come any more (stdin ended): every wait returns."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def wait(self, number: int) -> bool:
        """Block until ``number`` is acknowledged (True) or acks can no longer come (False)."""
        with self._cond:
            self._cond.wait_for(lambda: number in self._acked or self._closed)
            return number in self._acked or not self._waits


def commit(execution, step: str, partition: int, reader: Any, writer: Any, user_data: Any,
           metrics: dict[str, int], done: bool = False) -> bool:
    """Write one checkpoint event and wait for its acknowledgement; False if none can come."""
    number = execution.acks.number()
    execution.emit(checkpoint_event(execution.execution_id, step, partition, reader, writer,
                                    user_data, snapshot(metrics), done, ack=number))
    return execution.acks.wait(number)
