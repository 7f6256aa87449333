"""A threaded WSGI server in a background thread, for an in-process bus (the REPL, tests).

``jsbus serve`` uses gunicorn; this exists for places that must keep the bus in the current
process, where gunicorn (which must own the main thread and forks) cannot run.
"""
from __future__ import annotations

import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class BackgroundServer:
    """Binds at once (port 0 picks a free one); ``start(app)`` serves it; ``stop()`` ends it."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self._server = make_server(host, port, None, server_class=_ThreadingServer,
                                   handler_class=_QuietHandler)
        self.host, self.port = host, self._server.server_address[1]
        self.url = f"http://{host}:{self.port}"

    def start(self, app) -> None:
        self._server.set_app(app)
        threading.Thread(target=self._server.serve_forever, name=f"http-{self.port}",
                         daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
