"""The built-in transport: bus-to-agent commands as JSON over HTTP (``docs/protocol.md``)."""
from __future__ import annotations

import json
from typing import Any, Callable
from urllib.parse import unquote

import httpx

from jsbus import signing
from jsbus.backends import AgentAddress, Transport
from jsbus.config import Config
from jsbus.errors import TransportError
from jsbus.model import AgentInfo, StartCommand

DRY_RUN_MARGIN = 10.0  # seconds a dry run's answer may take beyond the run's own timeout


class AgentRefused(TransportError):
    """The agent answered, but not with a 2xx: ``status`` and its ``messages`` say why.

    ``busy`` tells the dispatcher (which knows no plugin classes) to try another agent.
    """

    busy = False

    def __init__(self, target: str, status: int, messages: list[str]):
        self.target = target
        self.status = status
        self.messages = messages
        detail = "; ".join(messages) or "no reason given"
        super().__init__(f"{target} answered {status}: {detail}")


class AgentBusy(AgentRefused):
    """The agent answered 503: it runs as many executions as it may. Try another agent."""

    busy = True


def start_command_body(command: StartCommand) -> dict[str, Any]:
    """The start command as the protocol's JSON object."""
    body = {"execution-id": command.execution_id, "app": command.app, "job": command.job,
            "document": command.document, "parameters": dict(command.parameters),
            "classpath": list(command.classpath)}
    if command.restart is not None:
        body["restart"] = command.restart
    if command.not_before is not None:
        body["not-before"] = command.not_before
    if getattr(command, "builtins", ()):
        body["builtins"] = list(command.builtins)
    body["attempt"] = getattr(command, "attempt", 1)
    return body


def base_url(host: str, port: int) -> str:
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}"


class HttpTransport(Transport):
    """Sends commands to agents over one shared keep-alive ``httpx.Client``; thread-safe.

    Every command goes through :meth:`send`, so a subclass that wants to record, sign or
    retry commands overrides that one method (or the public ones, calling ``super()``).
    """

    # (bus id, secret) of an agent, or None: set by the bus (``jsbus.agentauth``) at start.
    credentials: Callable[[str], tuple[str, bytes] | None] | None = None

    def __init__(self, config: Config):
        self.config = config
        self.timeout = float(config.get("agents.command_timeout"))
        self.client = self.make_client()

    def make_client(self) -> httpx.Client:
        # trust_env=False: agents sit on the cluster network; an HTTP_PROXY meant for the
        # internet would otherwise swallow every command.
        return httpx.Client(timeout=self.timeout, trust_env=False,
                            headers={"Accept": "application/json"})

    # -- the protocol's commands ---------------------------------------------------------------
    def start_execution(self, agent: AgentInfo, command: StartCommand) -> dict[str, Any]:
        return self.send("POST", f"{agent.url}/executions", target=describe_agent(agent),
                         body=start_command_body(command), agent_id=agent.instance_id)

    def start_executions(self, agent: AgentInfo,
                         commands: list[StartCommand]) -> list[Exception | None]:
        """One ``POST /executions/batch``; an agent without that endpoint (404) gets the
        commands one by one."""
        if len(commands) == 1:
            return super().start_executions(agent, commands)
        target = describe_agent(agent)
        try:
            answer = self.send("POST", f"{agent.url}/executions/batch", target=target,
                               body={"executions": [start_command_body(c) for c in commands]},
                               agent_id=agent.instance_id)
        except AgentRefused as exc:
            if exc.status in (404, 405):
                return super().start_executions(agent, commands)
            return [exc] * len(commands)
        except TransportError as exc:
            return [exc] * len(commands)
        return batch_results(target, commands, answer)

    def stop_execution(self, agent: AgentInfo, execution_id: int) -> None:
        self.send("PUT", f"{agent.url}/executions/{execution_id}/stop",
                  target=describe_agent(agent), agent_id=agent.instance_id)

    def execution_status(self, agent: AgentInfo, execution_id: int,
                         attempt: int) -> dict[str, Any] | None:
        """Signed ``GET /executions/{id}?attempt=n``: the agent's answer, or None on 404 (it
        does not have that execution, and refuses it from now on at an attempt up to n)."""
        try:
            return self.send("GET", f"{agent.url}/executions/{execution_id}?attempt={attempt}",
                             target=describe_agent(agent), agent_id=agent.instance_id)
        except AgentRefused as exc:
            if exc.status == 404:
                return None
            raise

    def invite(self, address: AgentAddress, bus_url: str) -> dict[str, Any]:
        url = base_url(address.host, address.port)
        # Signed when the agent is enrolled (an enrolled agent takes joins only from its bus);
        # unsigned to an agent this bus shares no secret with (it enrolls afterwards).
        return self.send("POST", f"{url}/join", target=f"agent {address.instance_id} at {url}",
                         body={"bus-url": bus_url}, agent_id=address.instance_id,
                         require_signature=False)

    def dry_run(self, agent: AgentInfo, document: dict[str, Any],
                timeout: float) -> dict[str, Any]:
        """``POST /dry-runs``; waits ``timeout`` plus ``DRY_RUN_MARGIN`` seconds for the
        answer (the agent kills the run after ``timeout``)."""
        target, url = describe_agent(agent), f"{agent.url}/dry-runs"
        return self.send("POST", url, target=target,
                         body={"document": document, "timeout": timeout},
                         wait=timeout + DRY_RUN_MARGIN, agent_id=agent.instance_id)

    def close(self) -> None:
        self.client.close()

    # -- one exchange ----------------------------------------------------------------------------
    def send(self, method: str, url: str, *, target: str, body: dict[str, Any] | None = None,
             wait: float | None = None, agent_id: str | None = None,
             require_signature: bool = True) -> dict[str, Any]:
        """Send one command and return the agent's JSON answer (``{}`` when it has none).

        ``target`` names the agent in error messages; ``wait`` is how long to wait for the
        answer when not the command timeout. Raises :class:`AgentBusy` on 503,
        :class:`AgentRefused` on any other non-2xx, ``TransportError`` when nothing answered.
        """
        wait = self.timeout if wait is None else wait
        content = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        headers.update(self.signature(method, url, content, target, agent_id,
                                      require_signature))
        try:
            response = self.client.request(method, url, content=content, headers=headers,
                                           timeout=httpx.Timeout(wait, connect=self.timeout))
        except httpx.TimeoutException:
            raise TransportError(f"{target}: no answer to {method} {url} within "
                                 f"{wait:g} s") from None
        except httpx.HTTPError as exc:
            raise TransportError(f"{target}: {method} {url} failed: "
                                 f"{type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise refusal(target, response)
        return answer_json(target, response)


    def signature(self, method: str, url: str, content: bytes, target: str,
                  agent_id: str | None, required: bool) -> dict[str, str]:
        """The headers that sign one command (``jsbus.signing``): every command to an agent is
        signed with its secret; a command to an agent without one is not sent."""
        found = (self.credentials(agent_id) if self.credentials is not None and agent_id
                 else None)
        if found is None:
            if required:
                raise TransportError(f"{target} is not enrolled: no command is sent to it")
            return {}
        bus_id, secret = found
        parsed = httpx.URL(url)
        path = unquote(parsed.path) + (f"?{parsed.query.decode()}" if parsed.query else "")
        return signing.sign(secret, signing.BUS_TO_AGENT, method, path, content, agent_id,
                            bus_id)


def batch_results(target: str, commands: list[StartCommand],
                  answer: dict[str, Any]) -> list[Exception | None]:
    """Per command of a batch: None when the agent took it, else why not."""
    by_id = {}
    for result in answer.get("results") or []:
        if isinstance(result, dict):
            by_id[result.get("execution-id")] = result
    outcomes: list[Exception | None] = []
    for command in commands:
        result = by_id.get(command.execution_id)
        if result is None:
            outcomes.append(TransportError(f"{target} did not answer for execution "
                                           f"{command.execution_id} in its batch"))
            continue
        status = result.get("status")
        if isinstance(status, int) and 200 <= status < 300:
            outcomes.append(None)
        else:
            error = AgentBusy if status == 503 else AgentRefused
            messages = [str(m) for m in result.get("messages") or []]
            outcomes.append(error(target, status if isinstance(status, int) else 0, messages))
    return outcomes


def describe_agent(agent: AgentInfo) -> str:
    return f"agent {agent.name or '?'} ({agent.instance_id}) at {agent.url}"


def messages_of(response: httpx.Response) -> list[str]:
    """The ``{"messages": [...]}`` of an error answer, else its text, so nothing is lost."""
    try:
        messages = response.json().get("messages")
    except (ValueError, AttributeError):
        messages = None
    if isinstance(messages, list):
        return [str(message) for message in messages]
    text = response.text.strip()
    return [text[:500]] if text else []


def refusal(target: str, response: httpx.Response) -> AgentRefused:
    error = AgentBusy if response.status_code == 503 else AgentRefused
    return error(target, response.status_code, messages_of(response))


def answer_json(target: str, response: httpx.Response) -> dict[str, Any]:
    if not response.content:
        return {}
    try:
        answer = response.json()
    except ValueError:
        raise TransportError(f"{target} answered {response.status_code} with a body that is "
                             f"not JSON: {response.text[:200]!r}") from None
    if not isinstance(answer, dict):
        raise TransportError(f"{target} answered {response.status_code} with JSON that is not "
                             f"an object: {answer!r}"[:300])
    return answer
