"""The agent's HTTP endpoint (``docs/protocol.md``): a falcon app on a threaded wsgiref server
that speaks HTTP/1.1 with keep-alive (a bus reuses its connection for every command)."""
from __future__ import annotations

import io
import json
import logging
import socket
import threading
from socketserver import ThreadingMixIn
from typing import Any, Protocol
from urllib.parse import urlparse
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer, make_server

import falcon

from jsagent.commands import parse_start_command
from jsagent.trust import AgentKeys, NotEnrolled
from jsbus.signing import SignatureError
from jsbus.errors import ValidationError
from jsbus.model import StartCommand

log = logging.getLogger(__name__)
KEEP_ALIVE_TIMEOUT = 30.0  # seconds an idle connection is kept open
MAX_BODY = 32 << 20  # bytes: a batch of start commands may be large
DRY_RUN_TIMEOUT = 60.0  # seconds a dry run may take when its request does not say
MAX_DRY_RUN_TIMEOUT = 3600.0


class AgentControl(Protocol):
    """What the HTTP resources need from the agent."""

    def document(self) -> dict[str, Any]: ...
    def join(self, bus_url: str) -> dict[str, Any]: ...
    def start_execution(self, command: StartCommand) -> tuple[int, dict[str, Any]]: ...
    def start_executions(self, commands: list[StartCommand]) -> list[tuple[int, dict[str, Any]]]:
        ...
    def stop_execution(self, execution_id: int) -> bool: ...
    def query_execution(self, execution_id: int,
                        attempt: int | None) -> tuple[int, dict[str, Any]]: ...
    def dry_run(self, document: Any, timeout: float) -> dict[str, Any]: ...


def read_json(req: falcon.Request) -> Any:
    """The request body as JSON; ``ValidationError`` if it is not JSON."""
    raw = getattr(req.context, "raw_body", None)  # read by CommandGuard
    try:
        return json.loads((raw if raw is not None else req.bounded_stream.read()) or b"null")
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

    def on_get_one(self, req: falcon.Request, resp: falcon.Response, execution_id: int) -> None:
        """``GET /executions/{id}?attempt=n``: 200 what the agent has (or recently had) of it;
        404 when nothing, and from then on no start of it with an attempt <= n runs here."""
        raw = req.get_param("attempt")
        attempt = None
        if raw is not None:
            try:
                attempt = int(raw)
            except ValueError:
                attempt = 0
            if attempt < 1:
                raise ValidationError("attempt must be a positive integer")
        resp.status, resp.media = self.agent.query_execution(execution_id, attempt)

    def on_put_stop(self, req: falcon.Request, resp: falcon.Response, execution_id: int) -> None:
        if not self.agent.stop_execution(execution_id):
            raise falcon.HTTPNotFound(description=f"execution {execution_id} is not known here")
        resp.status = 202
        resp.media = {"execution-id": execution_id}


class ExecutionBatch:
    """``POST /executions/batch``: many start commands, accepted with one ask of the runtime;
    each is answered on its own, in order (a bad one does not reject the others)."""

    def __init__(self, agent: AgentControl):
        self.agent = agent

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_json(req)
        items = body.get("executions") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise ValidationError("the body must be an object whose executions is a list of "
                                  "start commands")
        results: list[dict[str, Any] | None] = []
        valid: list[tuple[int, StartCommand]] = []
        for item in items:
            try:
                valid.append((len(results), parse_start_command(item)))
                results.append(None)
            except ValidationError as exc:
                results.append({"execution-id": _execution_id_of(item), "status": 400,
                                "messages": exc.messages})
        answers = self.agent.start_executions([command for _, command in valid]) if valid else []
        for (index, command), (status, answer) in zip(valid, answers):
            result: dict[str, Any] = {"execution-id": command.execution_id, "status": status}
            if not 200 <= status < 300:
                result["messages"] = answer.get("messages", [])
            results[index] = result
        resp.media = {"results": results}


class DryRuns:
    """``POST /dry-runs``: run a job with every component a no-op (``jsagent.dryrun``) and
    answer its outcome once it ended, within ``timeout`` seconds."""

    def __init__(self, agent: AgentControl):
        self.agent = agent

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_json(req)
        if not isinstance(body, dict) or not isinstance(body.get("document"), dict):
            raise ValidationError("the body must be an object whose document is a job document")
        timeout = body.get("timeout", DRY_RUN_TIMEOUT)
        if (not isinstance(timeout, (int, float)) or isinstance(timeout, bool)
                or not 0 < timeout <= MAX_DRY_RUN_TIMEOUT):
            raise ValidationError(f"timeout must be a number of seconds in (0, "
                                  f"{MAX_DRY_RUN_TIMEOUT:g}]")
        resp.media = self.agent.dry_run(body["document"], float(timeout))


def _execution_id_of(item: Any) -> int | None:
    value = item.get("execution-id") if isinstance(item, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _validation_error(req, resp, exc: ValidationError, params) -> None:
    resp.status = 400
    resp.media = {"messages": exc.messages}


def _error_body(req, resp, exc: falcon.HTTPError) -> None:
    message = exc.description or exc.title or str(exc.status)
    resp.content_type = falcon.MEDIA_JSON
    resp.text = json.dumps({"messages": [message]})


class CommandGuard:
    """Every command must be signed by the bus this agent enrolled with (``jsagent.trust``):
    an unsigned, stale, replayed or wrongly signed one is answered 401 and nothing runs.
    Open: ``GET /healthcheck``, ``GET /spec``, and ``POST /join`` until the agent is enrolled
    (it only names the bus to heartbeat to; an enrolled agent takes joins from its bus only)."""

    OPEN = frozenset({("GET", "/healthcheck"), ("GET", "/spec")})

    def __init__(self, keys: AgentKeys):
        self.keys = keys

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if (req.method, req.path) in self.OPEN:
            return
        body = req.bounded_stream.read()
        req.context.raw_body = body
        if (req.method, req.path) == ("POST", "/join") and not self.keys.enrolled:
            return
        path = req.path + (f"?{req.query_string}" if req.query_string else "")
        try:
            self.keys.verify(req.headers, req.method, path, body)
        except (NotEnrolled, SignatureError) as exc:
            log.warning("refused %s %s from %s: %s", req.method, req.path, req.remote_addr, exc)
            raise falcon.HTTPUnauthorized(title="Unauthorized", description=str(exc)) from None


def create_app(agent: AgentControl, keys: AgentKeys) -> falcon.App:
    """The WSGI app; every error answers ``{"messages": [...]}``; every command is checked by
    ``CommandGuard``."""
    app = falcon.App(middleware=[CommandGuard(keys)])
    executions = Executions(agent)
    app.add_route("/healthcheck", Healthcheck())
    app.add_route("/spec", Spec(agent))
    app.add_route("/join", Join(agent))
    app.add_route("/executions", executions)
    app.add_route("/executions/batch", ExecutionBatch(agent))
    app.add_route("/executions/{execution_id:int}", executions, suffix="one")
    app.add_route("/executions/{execution_id:int}/stop", executions, suffix="stop")
    app.add_route("/dry-runs", DryRuns(agent))
    app.add_error_handler(ValidationError, _validation_error)
    app.set_error_serializer(_error_body)
    return app


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class _ResponseHandler(ServerHandler):
    """An HTTP/1.1 response; without a Content-Length the connection closes after it."""

    http_version = "1.1"

    def cleanup_headers(self) -> None:
        super().cleanup_headers()
        if "Content-Length" not in self.headers or self.request_handler.close_connection:
            self.headers["Connection"] = "close"
            self.request_handler.close_connection = True


class _KeepAliveHandler(WSGIRequestHandler):
    """Serves requests one after another on a connection until the client closes it, asks
    to, or stays silent for ``timeout`` seconds. The body is read whole before the app runs,
    so a body the app does not read cannot be taken for the next request."""

    protocol_version = "HTTP/1.1"
    timeout = KEEP_ALIVE_TIMEOUT
    wbufsize = 65536  # one send per response (flushed after each)

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self) -> None:
        self.close_connection = True
        self._handle_one()
        while not self.close_connection:
            self._handle_one()

    def _handle_one(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except OSError:  # a timeout, or the client went away
            self.raw_requestline = b""
        if not self.raw_requestline:
            self.close_connection = True
            return
        if len(self.raw_requestline) > 65536:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            self.close_connection = True
            return
        if not self.parse_request():  # it answered the error
            return
        body = self._body()
        if body is None:
            return
        handler = _ResponseHandler(body, self.wfile, self.get_stderr(), self.get_environ(),
                                   multithread=True)
        handler.request_handler = self
        handler.run(self.server.get_app())
        self.wfile.flush()

    def _body(self) -> io.BytesIO | None:
        if self.headers.get("Transfer-Encoding"):
            self.send_error(411, "a Content-Length is required")
            self.close_connection = True
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.send_error(413 if length > MAX_BODY else 400, "bad Content-Length")
            self.close_connection = True
            return None
        return io.BytesIO(self.rfile.read(length) if length else b"")

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
                                   handler_class=_KeepAliveHandler)
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
