"""HttpTransport against a real HTTP server on loopback that plays the agent's part."""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jsbus.backends import AgentAddress
from jsbus.config import load_bus_config
from jsbus.errors import TransportError
from jsbus.model import AgentInfo, StartCommand
from jsbus_plugins.transport_http import AgentBusy, AgentRefused, HttpTransport

pytestmark = pytest.mark.timeout(20)

COMMAND = StartCommand(
    execution_id=7, app="demo", job="JOB-1",
    document={"id": "JOB-1", "restartable": True, "properties": {},
              "steps": [{"id": "STEP-1", "batchlet": {"ref": "hello.Hello",
                                                      "properties": {"k": "v"}}}]},
    parameters={"name": "world"}, classpath=("file:///srv/apps/demo",))


class FakeAgent:
    """A FAKE agent: a threaded HTTP server on 127.0.0.1 that records each request and answers
    with canned responses, so the transport is tested without a real jsagent.

    ``answers[(method, path)] = (status, body)``; unknown routes answer 404. When ``hold`` is
    set to an Event, every handler waits on it before answering (to provoke timeouts).
    """

    def __init__(self):
        self.requests: list[dict] = []
        self.answers: dict[tuple[str, str], tuple[int, object]] = {}
        self.hold: threading.Event | None = None
        self.arrived = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        # A short poll interval: shutdown() waits for one poll, once per test.
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def info(self, name: str = "agent-1") -> AgentInfo:
        return AgentInfo(instance_id="d7dd0172-0000-4000-8000-000000000001", name=name,
                         host="127.0.0.1", port=self.port)

    def _handler_class(self):
        agent = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the real agent serves

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                agent.requests.append({"method": self.command, "path": self.path,
                                       "content_type": self.headers.get("Content-Type"),
                                       "body": json.loads(raw) if raw else None,
                                       "client_port": self.client_address[1]})
                agent.arrived.set()
                if agent.hold is not None:
                    agent.hold.wait(10)
                status, body = agent.answers.get((self.command, self.path),
                                                 (404, {"messages": ["no such route"]}))
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the transport gave up first (the timeout test): that is the point

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, *args):  # keep test output quiet
                pass

        return Handler

    def __enter__(self) -> FakeAgent:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def agent():
    with FakeAgent() as fake:
        yield fake


def make_transport(timeout: float = 5.0) -> HttpTransport:
    config = load_bus_config(environ={}).with_overrides({"agents.command_timeout": timeout})
    transport = HttpTransport(config)
    transport.credentials = lambda agent_id: ("bus-1", b"k" * 32)  # every command is signed
    return transport


@pytest.fixture
def transport():
    transport = make_transport()
    yield transport
    transport.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_start_command_is_posted_as_the_protocol_json(agent, transport):
    agent.answers[("POST", "/executions")] = (202, {"execution-id": 7, "accepted": True})

    answer = transport.start_execution(agent.info(), COMMAND)

    assert answer == {"execution-id": 7, "accepted": True}
    [request] = agent.requests
    assert request["content_type"] == "application/json"
    assert request["body"] == {
        "execution-id": 7, "app": "demo", "job": "JOB-1", "document": COMMAND.document,
        "parameters": {"name": "world"}, "classpath": ["file:///srv/apps/demo"], "attempt": 1}


def test_commands_share_one_keep_alive_connection(agent, transport):
    agent.answers[("POST", "/executions")] = (200, {"execution-id": 7, "accepted": True})

    transport.start_execution(agent.info(), COMMAND)
    transport.start_execution(agent.info(), COMMAND)

    assert len({request["client_port"] for request in agent.requests}) == 1


def test_stop_is_a_put_to_the_execution(agent, transport):
    agent.answers[("PUT", "/executions/7/stop")] = (202, {"execution-id": 7})

    assert transport.stop_execution(agent.info(), 7) is None
    assert [(r["method"], r["path"]) for r in agent.requests] == [("PUT", "/executions/7/stop")]


def test_stop_of_an_unknown_execution_reports_the_status(agent, transport):
    with pytest.raises(AgentRefused) as raised:
        transport.stop_execution(agent.info(), 99)
    assert raised.value.status == 404
    assert "no such route" in str(raised.value)


def test_invite_posts_the_bus_url_and_returns_the_agent_document(agent, transport):
    document = {"agent/instance-id": "d7dd0172", "agent/name": "agent-1"}
    agent.answers[("POST", "/join")] = (200, document)
    address = AgentAddress("d7dd0172", "127.0.0.1", agent.port, {"version": "0.1.0"})

    assert transport.invite(address, "http://127.0.0.1:45102") == document
    assert agent.requests[0]["body"] == {"bus-url": "http://127.0.0.1:45102"}


def test_an_agent_at_capacity_is_busy(agent, transport):
    agent.answers[("POST", "/executions")] = (503, {"messages": ["4 of 4 slots in use"]})

    with pytest.raises(AgentBusy) as raised:
        transport.start_execution(agent.info(), COMMAND)
    assert isinstance(raised.value, TransportError)
    assert raised.value.status == 503
    assert raised.value.busy is True  # what the dispatcher reads: it imports no plugin
    assert raised.value.messages == ["4 of 4 slots in use"]


def test_a_server_error_is_a_transport_error_but_not_busy(agent, transport):
    agent.answers[("POST", "/executions")] = (500, b"Internal Server Error")

    with pytest.raises(TransportError) as raised:
        transport.start_execution(agent.info("agent-7"), COMMAND)
    assert not isinstance(raised.value, AgentBusy)
    assert not getattr(raised.value, "busy", False)
    assert "agent-7" in str(raised.value) and "500" in str(raised.value)
    assert "Internal Server Error" in str(raised.value)


def test_an_answer_that_is_not_json_is_a_transport_error(agent, transport):
    agent.answers[("POST", "/executions")] = (202, b"<html>accepted</html>")

    with pytest.raises(TransportError, match="not JSON"):
        transport.start_execution(agent.info(), COMMAND)


def test_connection_refused_names_the_agent(transport):
    gone = AgentInfo(instance_id="d7dd0172-dead", name="agent-gone", host="127.0.0.1",
                     port=closed_port())

    with pytest.raises(TransportError) as raised:
        transport.start_execution(gone, COMMAND)
    assert "agent-gone" in str(raised.value)
    assert gone.url in str(raised.value)
    assert "ConnectError" in str(raised.value)


def test_an_agent_slower_than_the_command_timeout_is_a_transport_error(agent):
    agent.hold = threading.Event()
    agent.answers[("POST", "/executions")] = (202, {"execution-id": 7, "accepted": True})
    transport = make_transport(timeout=0.3)
    try:
        with pytest.raises(TransportError, match="no answer") as raised:
            transport.start_execution(agent.info("agent-slow"), COMMAND)
    finally:
        agent.hold.set()
        transport.close()
    assert agent.arrived.is_set()
    assert "agent-slow" in str(raised.value)


def test_a_subclass_sees_every_command_through_send(agent):
    class RecordingTransport(HttpTransport):
        def __init__(self, config):
            super().__init__(config)
            self.sent = []

        def send(self, method, url, *, target, body=None, **options):
            answer = super().send(method, url, target=target, body=body, **options)
            self.sent.append((method, url, answer))
            return answer

    agent.answers[("PUT", "/executions/7/stop")] = (202, {"execution-id": 7})
    transport = RecordingTransport(load_bus_config(environ={}))
    transport.credentials = lambda agent_id: ("bus-1", b"k" * 32)
    try:
        transport.stop_execution(agent.info(), 7)
    finally:
        transport.close()
    assert transport.sent == [("PUT", f"{agent.info().url}/executions/7/stop",
                               {"execution-id": 7})]


def commands(*ids):
    return [StartCommand(**{**COMMAND.__dict__, "execution_id": i}) for i in ids]


def test_several_starts_go_in_one_batch_and_each_gets_its_outcome(agent, transport):
    agent.answers[("POST", "/executions/batch")] = (200, {"results": [
        {"execution-id": 1, "status": 202}, {"execution-id": 2, "status": 200},
        {"execution-id": 3, "status": 503, "messages": ["at capacity"]},
        {"execution-id": 4, "status": 400, "messages": ["document: bad"]}]})

    outcomes = transport.start_executions(agent.info(), commands(1, 2, 3, 4, 5))

    [request] = agent.requests
    assert request["path"] == "/executions/batch"
    assert [c["execution-id"] for c in request["body"]["executions"]] == [1, 2, 3, 4, 5]
    assert outcomes[:2] == [None, None]
    assert isinstance(outcomes[2], AgentBusy) and outcomes[2].messages == ["at capacity"]
    assert isinstance(outcomes[3], AgentRefused) and not outcomes[3].busy
    assert outcomes[3].status == 400
    assert isinstance(outcomes[4], TransportError)  # the agent said nothing of execution 5
    assert "execution 5" in str(outcomes[4])


def test_an_agent_without_the_batch_endpoint_gets_the_starts_one_by_one(agent, transport):
    agent.answers[("POST", "/executions")] = (202, {"accepted": True})

    outcomes = transport.start_executions(agent.info(), commands(1, 2))

    assert outcomes == [None, None]
    assert [r["path"] for r in agent.requests] == [
        "/executions/batch", "/executions", "/executions"]
    assert [r["body"]["execution-id"] for r in agent.requests[1:]] == [1, 2]


def test_a_batch_nobody_answers_fails_every_start_in_it(transport):
    dead = AgentInfo(instance_id="x", name="gone", host="127.0.0.1", port=closed_port())

    outcomes = transport.start_executions(dead, commands(1, 2))

    assert len(outcomes) == 2
    assert all(isinstance(o, TransportError) and "gone" in str(o) for o in outcomes)


def test_execution_status_asks_with_the_attempt_and_reads_404_as_none(agent, transport):
    agent.answers[("GET", "/executions/7?attempt=2")] = (
        200, {"execution-id": 7, "attempt": 2, "state": "running", "batch-status": "started"})

    assert transport.execution_status(agent.info(), 7, 2) == {
        "execution-id": 7, "attempt": 2, "state": "running", "batch-status": "started"}
    assert transport.execution_status(agent.info(), 8, 1) is None  # 404: it does not have it
    assert [(r["method"], r["path"]) for r in agent.requests] == [
        ("GET", "/executions/7?attempt=2"), ("GET", "/executions/8?attempt=1")]


def test_execution_status_of_an_unreachable_agent_raises(transport):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once closed
    gone = AgentInfo(instance_id="gone", name="gone", host="127.0.0.1", port=port)
    with pytest.raises(TransportError):
        transport.execution_status(gone, 7, 1)
