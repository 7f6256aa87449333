"""The agent's HTTP endpoint (``docs/protocol.md``): a falcon app on a threaded wsgiref server."""
from __future__ import annotations

import json
import logging
import socket
import threading
from socketserver import ThreadingMixIn
from typing import Any, Protocol
from urllib.parse import urlparse
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import falcon

from jsagent.commands import parse_start_command
from jsbus.errors import ValidationError
from jsbus.model import StartCommand

log = logging.getLogger(__name__)


class AgentControl(Protocol):
    """What the HTTP resources need from the agent."""

    def document(self) -> dict[str, Any]: ...
    def join(self, bus_url: str) -> dict[str, Any]: ...
    def start_execution(self, command: StartCommand) -> tuple[int, dict[str, Any]]: ...
    def stop_execution(self, execution_id: int) -> bool: ...


def read_json(req: falcon.Request) -> Any:
    """The request body as JSON; ``ValidationError`` if it is not JSON."""
    try:
        return json.loads(req.bounded_stream.read() or b"null")
    except ValueError as exc:
        raise ValidationError(f"the body is not valid JSON: {exc}") from None


class Healthcheck:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok"}


class Spec:
    def __init__(self, agent: AgentControl):
        self.agent = agent

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.agent.document()


class Join:
    def __init__(self, agent: AgentControl):
        self.agent = agent

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_json(req)
        url = body.get("bus-url") if isinstance(body, dict) else None
        parsed = urlparse(url) if isinstance(url, str) else None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValidationError("bus-url is required and must be an http(s) URL")
        resp.media = self.agent.join(url)


class Executions:
    def __init__(self, agent: AgentControl):
        self.agent = agent

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        status, body = self.agent.start_execution(parse_start_command(read_json(req)))
        resp.status = status
        resp.media = body

    def on_put_stop(self, req: falcon.Request, resp: falcon.Response, execution_id: int) -> None:
        if not self.agent.stop_execution(execution_id):
            raise falcon.HTTPNotFound(description=f"execution {execution_id} is not known here")
        resp.status = 202
        resp.media = {"execution-id": execution_id}


def _validation_error(req, resp, exc: ValidationError, params) -> None:
    resp.status = 400
    resp.media = {"messages": exc.messages}


def _error_body(req, resp, exc: falcon.HTTPError) -> None:
    message = exc.description or exc.title or str(exc.status)
    resp.content_type = falcon.MEDIA_JSON
    resp.text = json.dumps({"messages": [message]})


def create_app(agent: AgentControl) -> falcon.App:
    """The WSGI app; every error answers ``{"messages": [...]}``."""
    app = falcon.App()
    executions = Executions(agent)
    app.add_route("/healthcheck", Healthcheck())
    app.add_route("/spec", Spec(agent))
    app.add_route("/join", Join(agent))
    app.add_route("/executions", executions)
    app.add_route("/executions/{execution_id:int}/stop", executions, suffix="stop")
    app.add_error_handler(ValidationError, _validation_error)
    app.set_error_serializer(_error_body)
    return app


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)


class AgentServer:
    """Serves ``app`` on ``host:port`` (port 0: a free one) from a background thread."""

    def __init__(self, app: falcon.App, host: str, port: int):
        server_class = _ThreadingServer
        if ":" in host:
            server_class = type("_ThreadingServer6", (_ThreadingServer,),
                                {"address_family": socket.AF_INET6})
        self._server = make_server(host, port, app, server_class=server_class,
                                   handler_class=_QuietHandler)
        self.host = host
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.2}, name="jsagent-http",
                                        daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
