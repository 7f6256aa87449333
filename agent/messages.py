"""What the runtime actor (``jsagent.runtime``) is told and asked, and what it keeps of one
execution. Nothing here does I/O."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from jsagent.workerproc import PoolWorker, WorkerGone
from jsbus.model import StartCommand

# Start commands refused after a ``GET /executions/{id}`` answered 404 (``docs/protocol.md``):
# at most this many are remembered, the oldest forgotten first.
MAX_TOMBSTONES = 10_000


@dataclass(frozen=True)
class StartExecution:
    """Run ``command``; the reply is ``(http_status, body)`` (202, 200 for a repeat, 409, 503)."""

    command: StartCommand


@dataclass(frozen=True)
class StartExecutions:
    """Run each of ``commands``; the reply is a list of ``(http_status, body)`` in order."""

    commands: tuple[StartCommand, ...]


@dataclass(frozen=True)
class StopExecution:
    """Stop an execution; the reply is False when the id is not known here."""

    execution_id: int


@dataclass(frozen=True)
class QueryExecution:
    """``GET /executions/{id}?attempt=n``: the reply is ``(http_status, body)``; a 404 leaves a
    tombstone refusing starts of that id with an attempt <= ``attempt``."""

    execution_id: int
    attempt: int | None


@dataclass(frozen=True)
class Moved:
    """The bus no longer assigns these ``(execution id, attempt)`` to this agent: kill them,
    their events unsent are dropped (the reporter does that)."""

    pairs: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Fence:
    """No heartbeat succeeded for too long: stop everything, take nothing new."""

    why: str


@dataclass(frozen=True)
class Unfence:
    """A heartbeat succeeded again: take work again (unless draining)."""


@dataclass(frozen=True)
class Drain:
    """Take nothing new; stop what still runs after ``grace`` seconds (reason ``drain``)."""

    grace: float


@dataclass(frozen=True)
class DrainDue:
    """The drain's grace is over."""


@dataclass(frozen=True)
class Shutdown:
    """Refuse new work and stop every execution (``kill``: SIGKILL at once)."""

    kill: bool = False


@dataclass(frozen=True)
class RunningCount:
    """The reply is how many executions are accepted and not finished (held ones too)."""


@dataclass(frozen=True)
class Snapshot:
    """The reply is ``{"running": n, "executions": [[id, attempt], ...], "draining": bool}``
    for the heartbeat (the executions held, waiting or running)."""


@dataclass(frozen=True)
class PrestartWorkers:
    """Start the spare workers (sent once the zygote is ready)."""


@dataclass(frozen=True)
class CheckpointStored:
    """The bus stored the checkpoint the worker numbered ``ack``: let the worker read on."""

    execution_id: int
    ack: Any


@dataclass(frozen=True)
class WorkerNews:
    """What the pipe watcher read in one round: ChildEvent, ChildOutput, RunEnded and
    WorkerGone messages, in order."""

    messages: list


@dataclass
class Execution:
    """What the runtime knows of one execution it accepted."""

    execution_id: int
    reply: dict[str, Any]
    attempt: int = 1
    key: tuple = ()
    line: bytes | None = None  # the start command for the worker (kept for one retry)
    restart_position: str | None = None
    state: str = "waiting"  # held, waiting, running, done
    worker: PoolWorker | None = field(default=None, repr=False)
    open_step: str | None = None
    final_event: dict[str, Any] | None = None
    stop_requested: bool = False
    reason: str | None = None  # why the agent stopped it itself: drain, fence
    moved: bool = False  # the bus moved it away: killed, nothing more is reported
    batch_status: str | None = None  # its final status, once it ended
    heard: bool = False  # its worker wrote a line for it (the first is ``started``)
    retried: bool = False

    @property
    def done(self) -> bool:
        return self.state == "done"

    def describe(self) -> dict[str, Any]:
        """The answer of ``GET /executions/{id}``."""
        state = {"held": "waiting", "done": "ended"}.get(self.state, self.state)
        body: dict[str, Any] = {"execution-id": self.execution_id, "attempt": self.attempt,
                                "state": state}
        if self.batch_status is not None:
            body["batch-status"] = self.batch_status
        if self.moved:
            body["moved"] = True
        return body


class Tombstones:
    """Execution ids the bus was told are not here, with the highest attempt it asked about;
    bounded (``MAX_TOMBSTONES``, oldest dropped)."""

    def __init__(self, limit: int = MAX_TOMBSTONES):
        self._limit = limit
        self._attempts: OrderedDict[int, int] = OrderedDict()

    def add(self, execution_id: int, attempt: int) -> None:
        self._attempts[execution_id] = max(attempt, self._attempts.pop(execution_id, attempt))
        while len(self._attempts) > self._limit:
            self._attempts.popitem(last=False)

    def refuses(self, execution_id: int, attempt: int) -> bool:
        buried = self._attempts.get(execution_id)
        return buried is not None and attempt <= buried


def ended_how(gone: WorkerGone) -> str:
    """The exit status of an execution whose worker ended without reporting one."""
    if gone.error:
        return gone.error
    if gone.returncode is not None and gone.returncode < 0:
        return f"worker killed by signal {-gone.returncode}"
    return f"worker exited with code {gone.returncode}"


def restart_position(command: StartCommand) -> str | None:
    restart = command.restart
    return restart.get("position") if isinstance(restart, dict) else None


def attempt_of(command: StartCommand) -> int:
    """The command's ``attempt`` (1 for a bus that does not send one)."""
    return int(getattr(command, "attempt", 1) or 1)
