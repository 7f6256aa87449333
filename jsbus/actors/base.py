"""A pykka actor that never dies of a message: failures become log lines and recorded state.

Messages are small dataclasses; ``on_receive`` dispatches ``Foo`` to ``on_foo``. An exception in
a ``tell``ed message would otherwise stop a pykka actor silently (stack-notes §2).
"""
from __future__ import annotations

import logging
import re

import pykka

from jsbus.errors import Conflict, NotFound, ValidationError

log = logging.getLogger(__name__)


def handler_name(message: object) -> str:
    return "on_" + re.sub(r"(?<!^)(?=[A-Z])", "_", type(message).__name__).lower()


class SafeActor(pykka.ThreadingActor):
    use_daemon_thread = True  # a crashed bus process must not be kept alive by its actors

    def on_receive(self, message):
        handler = getattr(self, handler_name(message), None)
        if handler is None:
            log.error("%s got a message it does not handle: %r", type(self).__name__, message)
            return None
        try:
            return handler(message)
        except (NotFound, Conflict, ValidationError) as exc:
            # The asker's answer (404, 409, 400), not a failure of the actor.
            log.debug("%s refused %s: %s", type(self).__name__, type(message).__name__, exc)
            if getattr(message, "reply", False):
                raise
            return exc
        except Exception as exc:  # noqa: BLE001 - see module docstring
            log.exception("%s failed on %s", type(self).__name__, type(message).__name__)
            if getattr(message, "reply", False):
                raise
            return exc
