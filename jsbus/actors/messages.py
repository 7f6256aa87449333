"""Messages between the bus's actors (and from the API and housekeeping into them)."""
from __future__ import annotations

from dataclasses import dataclass

from jsbus.backends import AgentAddress
from jsbus.model import WAITING_STATUSES, AgentInfo, BatchStatus, JobExecution


@dataclass(frozen=True)
class Tick:
    """Housekeeping: reconcile agents with storage, check leases, dispatch, reap idle jobs."""


@dataclass(frozen=True)
class AgentSeen:
    """A heartbeat was stored for this agent (``draining``: it takes no new work)."""
    agent: AgentInfo
    draining: bool = False


@dataclass(frozen=True)
class AgentFound:
    """Discovery found an agent; invite it unless it already reports to us."""
    address: AgentAddress


@dataclass(frozen=True)
class Dispatch:
    """Work may be waiting: dispatch what the agents can take. From other actors (``now``
    False) it is coalesced: a burst of them makes one dispatch, after the burst."""

    now: bool = False


@dataclass(frozen=True)
class ExecutionChanged:
    """Sent only when the change may free or need a place on an agent (``frees_a_place``)."""
    execution: JobExecution
    previous: BatchStatus

    @staticmethod
    def frees_a_place(status: BatchStatus) -> bool:
        """Ended, unknown or back to waiting: starting, started... change nothing for the
        dispatcher (and are most of an execution's changes)."""
        return (status.is_final or status is BatchStatus.UNKNOWN
                or status in WAITING_STATUSES)


@dataclass(frozen=True)
class DispatchFailed:
    """An agent could not take an execution; it went back to waiting."""
    agent_id: str
    execution_id: int
    busy: bool


@dataclass(frozen=True)
class GetJobActor:
    app: str
    job: str
    reply: bool = True


@dataclass(frozen=True)
class Submit:
    parameters: dict
    reply: bool = True


@dataclass(frozen=True)
class Restart:
    """Restart ``execution_id`` (a failed or stopped execution of this job) with parameters."""
    execution_id: int
    parameters: dict
    reply: bool = True


@dataclass(frozen=True)
class StopExecution:
    """Ask the agent running ``execution_id`` to stop it (sent again until it ends)."""
    execution_id: int
    agent_id: str | None = None


@dataclass(frozen=True)
class StartExecutions:
    """Executions claimed for one agent, to send it in one exchange."""
    executions: tuple[JobExecution, ...]


@dataclass(frozen=True)
class SendResult:
    execution_id: int
    error: Exception | None
    busy: bool = False
    attempt: int = 1


@dataclass(frozen=True)
class SendResults:
    """How one batch of start commands went, execution by execution."""
    results: tuple[SendResult, ...]


@dataclass(frozen=True)
class UpdateAgent:
    agent: AgentInfo


@dataclass(frozen=True)
class Snapshot:
    """Ask for the actor's view of its state (tests, the REPL)."""
    reply: bool = True


@dataclass(frozen=True)
class Wake:
    """The scheduler's alarm: fire what is due."""


@dataclass(frozen=True)
class ScheduleChanged:
    """A schedule was created, replaced, paused, resumed or deleted: plan it again."""
    app: str
    job: str


@dataclass(frozen=True)
class CalendarChanged:
    """A calendar was edited: plan again every schedule that uses it."""
    name: str


@dataclass(frozen=True)
class Resync:
    """Re-read every schedule (changes made through another bus process)."""


@dataclass(frozen=True)
class StartsDelivered:
    """An agent took these executions (2xx): their events should follow."""
    execution_ids: tuple[int, ...]


@dataclass(frozen=True)
class Settled:
    """Transitions made off the actor thread (``jsbus.recovery``): notify and dispatch."""
    transitions: tuple[tuple[JobExecution, BatchStatus], ...]
