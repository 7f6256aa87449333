"""Calling listeners: every listener that has the method is called, in document order.

A listener is any object; one class may implement several listener kinds (its methods decide
which calls it gets). An exception from a listener propagates: the step (or job) fails.
"""
from __future__ import annotations

from typing import Any, Iterable


class Listeners:
    def __init__(self, objects: Iterable[Any] = ()):
        self.objects = list(objects)

    def call(self, method: str, *args: Any) -> None:
        for listener in self.objects:
            function = getattr(listener, method, None)
            if callable(function):
                function(*args)

    def call_all(self, method: str, *args: Any) -> BaseException | None:
        """Call every listener even if one raises; the first exception is returned."""
        first = None
        for listener in self.objects:
            function = getattr(listener, method, None)
            if callable(function):
                try:
                    function(*args)
                except BaseException as exc:  # noqa: BLE001 - reported by the caller
                    first = first or exc
        return first

    def __bool__(self) -> bool:
        return bool(self.objects)
