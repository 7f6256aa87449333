"""Waits of the end-to-end tests that are not "until something happens" (``wait_until`` is):
a condition that must hold all along a stretch of time, polled, never a bare sleep."""
from __future__ import annotations

from jsbus.launch import wait_until


def stays(predicate, seconds: float, interval: float = 0.1) -> bool:
    """``predicate()`` holds all along ``seconds``: polled every ``interval`` until that
    deadline; False at the first poll where it does not."""
    try:
        wait_until(lambda: not predicate(), seconds, interval=interval,
                   what="the condition to stop holding")
    except TimeoutError:
        return True
    return False
