"""A fake standing in for the bus, used where a test needs every raw event the agent sends.

The real bus (``jsbus serve``) stores events and shows them through its API; the agent tests
and the agent mode of the engine semantics tests need more: every event exactly as the agent
posted it (its ``seq``, the batches, a refused batch sent again), and a hook per event. The
real bus is covered end to end by ``tests/e2e``.

It speaks the enrollment protocol (``docs/protocol.md``) as a bus that approves every agent at
once: the first heartbeat's answer carries a secret sealed to the agent's public key; from then
on it checks the agent's signatures (an unsigned or badly signed message gets 401), and
``auth()`` signs the commands a test sends the agent (an ``httpx.Auth``).
"""
from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import unquote

import httpx
from nacl.public import PublicKey, SealedBox

from jsbus import signing

FAKE_BUS_ID = "fake-bus"

FINAL_STATUSES = frozenset({"completed", "failed", "stopped"})


class FakeBus:
    """Stands in for the bus: on 127.0.0.1, it records the heartbeats and event batches an
    agent posts (answering 200), and can answer 500 to event batches for a while.

    Fencing (``docs/protocol.md``): heartbeats are answered with ``lease`` (and
    ``heartbeat-interval`` when set) and ``moved``: the reported ``agent/executions`` pairs
    given to ``move``; ``heartbeat_status`` other than 200 fails every heartbeat; events a
    ``refuse_events`` predicate accepts are not recorded but answered as ``refused`` seqs.

    ``watch(execution_id, callback)`` calls ``callback(event)`` for each event of that
    execution, in the order the agent sent them, before the batch that carried it is answered.
    """

    def __init__(self):
        self.heartbeats: list[dict] = []
        self.events: list[dict] = []
        self.rejected_batches = 0
        self._fail_events = 0
        self._refusals: list[list] = []  # [predicate, batches left]
        self._by_execution: dict[Any, list[dict]] = {}
        self._finals: dict[Any, dict] = {}
        self._watchers: dict[Any, Callable[[dict], None]] = {}
        self._cond = threading.Condition()
        self.secrets: dict[str, bytes] = {}  # agent instance id -> its secret
        self.enrolled: set[str] = set()  # agents that signed a message
        self.refused: list[tuple[str, str]] = []  # (path, why) of refused messages
        self.lease: float = 15
        self.heartbeat_interval: float | None = None
        self.heartbeat_status = 200
        self.failed_heartbeats = 0
        self._moved: set[tuple[int, int]] = set()
        self._refuse_events: Callable[[dict], bool] | None = None
        self.refused_events: list[dict] = []  # events answered as refused
        self._verifier = signing.Verifier(signing.AGENT_TO_BUS)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _handler_class(self):
        bus = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                body = json.loads(raw)
                refused = bus.check(self.path, self.headers, raw, body)
                status, answer = refused or bus.record(self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        return Handler

    # -- enrollment and signatures ---------------------------------------------------------
    def check(self, path: str, headers, raw: bytes, body: dict) -> tuple[int, dict] | None:
        """None when the message may be recorded, else the refusal (401)."""
        agent_id = path.split("/")[2] if path.startswith("/agent/") else ""
        with self._cond:
            secret = self.secrets.get(agent_id)
        if not signing.is_signed(headers):
            if agent_id in self.enrolled or path.endswith("/events"):
                return self._refuse_message(path, "unsigned message")
            return None
        try:
            self._verifier.verify(headers, "POST", path, raw,
                                  lambda a, b: secret if (a, b) == (agent_id, FAKE_BUS_ID)
                                  else None)
        except signing.SignatureError as exc:
            return self._refuse_message(path, str(exc))
        with self._cond:
            self.enrolled.add(agent_id)
            self._cond.notify_all()
        return None

    def _refuse_message(self, path: str, why: str) -> tuple[int, dict]:
        with self._cond:
            self.refused.append((path, why))
        return 401, {"messages": [why]}

    def _enrollment(self, agent_id: str, body: dict) -> dict:  # with self._cond held
        key = body.get("agent/public-key")
        if agent_id in self.enrolled or not isinstance(key, str):
            return {}
        secret = self.secrets.setdefault(agent_id, signing.new_secret())
        sealed = SealedBox(PublicKey(base64.b64decode(key))).encrypt(secret)
        return {"enrollment": {"bus-id": FAKE_BUS_ID,
                               "sealed-secret": base64.b64encode(sealed).decode()}}

    def wait_enrolled(self, agent_id: str | None = None, timeout: float = 30) -> str:
        """Wait until an agent (that one, or any) has signed a message; its instance id."""
        def enrolled():
            if agent_id is not None:
                return agent_id if agent_id in self.enrolled else None
            return next(iter(self.enrolled), None)
        return self.wait_for(enrolled, timeout)

    def auth(self, agent_id: str | None = None) -> httpx.Auth:
        """Signs each request with the secret of ``agent_id`` (default: the one enrolled)."""
        return SigningAuth(self, agent_id)

    def record(self, path: str, body: dict) -> tuple[int, dict]:
        with self._cond:
            if path.endswith("/heartbeat"):
                return self._heartbeat(path, body)
            if self._refuse(body["events"]):
                self.rejected_batches += 1
                return 500, {"messages": ["the fake bus is down"]}
            watched, refused = [], []
            for event in body["events"]:
                if self._refuse_events is not None and self._refuse_events(event):
                    refused.append(event["seq"])
                    self.refused_events.append(event)
                    continue
                self.events.append(event)
                execution_id = event.get("execution-id")
                self._by_execution.setdefault(execution_id, []).append(event)
                if event.get("type") == "execution" and event.get("status") in FINAL_STATUSES:
                    self._finals.setdefault(execution_id, event)
                if execution_id in self._watchers:
                    watched.append((self._watchers[execution_id], event))
            self._cond.notify_all()
        for callback, event in watched:  # unlocked: a callback may call the agent
            callback(event)
        if refused:
            return 200, {"applied": len(body["events"]) - len(refused), "refused": refused}
        return 200, {"applied": len(body["events"])}

    def _heartbeat(self, path: str, body: dict) -> tuple[int, dict]:  # with self._cond held
        if self.heartbeat_status != 200:
            self.failed_heartbeats += 1
            self._cond.notify_all()
            return self.heartbeat_status, {"messages": ["the fake bus is not answering"]}
        self.heartbeats.append(body)
        self._cond.notify_all()
        answer = {"lease": self.lease, **self._enrollment(path.split("/")[2], body)}
        if self.heartbeat_interval is not None:
            answer["heartbeat-interval"] = self.heartbeat_interval
        reported = {tuple(pair) for pair in body.get("agent/executions") or ()}
        moved = sorted(reported & self._moved)
        if moved:
            answer["moved"] = [list(pair) for pair in moved]
        return 200, answer

    def move(self, execution_id: int, attempt: int) -> None:
        """Answer ``moved`` to heartbeats that report this execution attempt."""
        with self._cond:
            self._moved.add((execution_id, attempt))

    def refuse_events(self, predicate: Callable[[dict], bool] | None) -> None:
        """Refuse (one by one, ``refused`` in a 200 answer) the events ``predicate`` accepts."""
        with self._cond:
            self._refuse_events = predicate

    def fail_heartbeats(self, status: int = 503) -> None:
        """Answer ``status`` to every heartbeat from now on (200: answer them again)."""
        with self._cond:
            self.heartbeat_status = status

    def _refuse(self, batch: list[dict]) -> bool:  # with self._cond held
        if self._fail_events > 0:
            self._fail_events -= 1
            return True
        for refusal in self._refusals:
            predicate, left = refusal
            if left > 0 and any(predicate(event) for event in batch):
                refusal[1] -= 1
                return True
        return False

    def fail_events(self, batches: int) -> None:
        """Answer 500 to the next ``batches`` event posts."""
        with self._cond:
            self._fail_events = batches

    def refuse(self, predicate: Callable[[dict], bool], batches: int) -> None:
        """Answer 500 to the next ``batches`` event posts that carry an event ``predicate``
        accepts (the agent sends such a batch again until it is answered 2xx)."""
        with self._cond:
            self._refusals.append([predicate, batches])

    def watch(self, execution_id: Any, callback: Callable[[dict], None]) -> None:
        """Call ``callback(event)`` for each event of ``execution_id`` from now on."""
        with self._cond:
            self._watchers[execution_id] = callback

    def unwatch(self, execution_id: Any) -> None:
        with self._cond:
            self._watchers.pop(execution_id, None)

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 30) -> Any:
        """Wait until ``predicate()`` (called with the bus locked) is truthy; return it."""
        with self._cond:
            result = self._cond.wait_for(predicate, timeout)
        assert result, "the fake bus did not get what the test waited for"
        return result

    def execution_events(self, execution_id: Any) -> list[dict]:
        """The events of one execution, in the order they arrived."""
        with self._cond:
            return list(self._by_execution.get(execution_id, ()))

    def final_event(self, execution_id: Any, timeout: float = 30) -> dict:
        """Wait for the final execution event (completed, failed, stopped) of an execution."""
        return self.wait_for(lambda: self._finals.get(execution_id), timeout)

    def has_final(self, execution_id: Any, timeout: float) -> bool:
        """Like :meth:`final_event`, but False instead of an assertion error on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: execution_id in self._finals, timeout)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class SigningAuth(httpx.Auth):
    """Signs commands to an agent as the fake bus it enrolled with (``jsbus.signing``)."""

    requires_request_body = True

    def __init__(self, bus: FakeBus, agent_id: str | None):
        self.bus = bus
        self.agent_id = agent_id

    def auth_flow(self, request: httpx.Request):
        agent_id = self.agent_id or self.bus.wait_enrolled()
        with self.bus._cond:
            secret = self.bus.secrets[agent_id]
        url = request.url
        path = unquote(url.path) + (f"?{url.query.decode()}" if url.query else "")
        request.headers.update(signing.sign(secret, signing.BUS_TO_AGENT, request.method, path,
                                            request.content, agent_id, FAKE_BUS_ID))
        yield request

