"""A real HTTP server on loopback that records the webhooks it receives (the notificator's
side of the protocol), answering with the statuses it is told to, in order."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    content_type: str
    body: bytes
    headers: dict[str, str]


class WebhookReceiver:
    def __init__(self, statuses: list[int] | None = None):
        self.received: list[Received] = []
        self._statuses = list(statuses or [])
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._cond:
                    status = receiver._statuses.pop(0) if receiver._statuses else 204
                    receiver.received.append(Received(self.path,
                                                      self.headers.get("Content-Type", ""),
                                                      body, dict(self.headers)))
                    receiver._cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "WebhookReceiver":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        """At least ``count`` requests, or AssertionError after ``timeout`` seconds."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"{len(self.received)} webhooks arrived, not {count}: "
                                     f"{[r.path for r in self.received]}")
            return list(self.received)


def until(predicate, timeout: float = 15.0, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; AssertionError after ``timeout``."""
    import time
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        pause.wait(0.02)
