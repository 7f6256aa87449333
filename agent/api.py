"""The Python component API of jsagent: what a job's batch artifacts implement and see.

The agent's worker runs jobs by the rules of JSR-352 (Jakarta Batch); this module is its Python
programming model. Method names are the specification's, in Python's spelling
(``readItem`` -> ``read_item``). Every base class here is optional: an artifact may be any class
the worker can build with no arguments that has the right methods (duck typing); methods that a
class leaves out count as the base class's no-op.

A job names its artifacts with ``ref``: ``package.module.Class``, ``package.module:Class`` or a
name registered with :func:`named` (the built-in batchlets ``shell``, ``python-main`` and
``java-main`` are registered so).

Before an artifact is used, the worker sets on the instance:

* each of its properties (the ``properties`` of its ``ref``, after substitution) as a string
  attribute: ``self.path`` for the property ``path``; a name that is not an identifier is also
  set with ``_`` for the other characters (``in.file`` -> ``in_file``). As the specification
  says, a property whose value resolves to the empty string is not set (a class attribute is
  then the default);
* ``job_parameters``: the execution's parameters (a dict of str);
* ``job_context``: the :class:`JobContext`; ``step_context``: the :class:`StepContext` of the
  running step (None for job listeners and deciders).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

_REGISTRY: dict[str, Any] = {}
_REGISTRY_LOCK = threading.Lock()


def named(name: str) -> Callable[[Any], Any]:
    """Class decorator: register the artifact under a bare ``name`` usable as its ``ref``."""
    if not isinstance(name, str) or not name:
        raise ValueError("an artifact name must be a non-empty string")

    def register(artifact: Any) -> Any:
        with _REGISTRY_LOCK:
            _REGISTRY[name] = artifact
        artifact.artifact_name = name
        return artifact
    return register


def registered(name: str) -> Any | None:
    """The artifact registered under ``name`` with :func:`named`, or None."""
    with _REGISTRY_LOCK:
        return _REGISTRY.get(name)


class BatchStatus:
    """The batch status values (strings, as the specification spells them)."""

    STARTING = "STARTING"
    STARTED = "STARTED"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    FAILED = "FAILED"
    COMPLETED = "COMPLETED"
    ABANDONED = "ABANDONED"


METRIC_NAMES = ("read-count", "write-count", "filter-count", "commit-count", "rollback-count",
                "read-skip-count", "process-skip-count", "write-skip-count")


@dataclass
class PartitionPlan:
    """What :meth:`PartitionMapper.map_partitions` returns (a dict with these keys will do).

    ``threads`` None or 0 means one thread per partition; ``properties[i]`` are the
    ``#{partitionPlan['name']}`` values of partition ``i``. ``partitions_override`` True on a
    restart discards what the partitions of the previous execution did and runs them all anew.
    """

    partitions: int = 1
    threads: int | None = None
    properties: list[dict[str, str]] = field(default_factory=list)
    partitions_override: bool = False


@dataclass(frozen=True)
class StepExecution:
    """A step's execution as a :class:`Decider` sees it (possibly from an earlier execution of
    the job instance, on a restart)."""

    step_name: str
    batch_status: str
    exit_status: str | None
    metrics: dict[str, int] = field(default_factory=dict)
    persistent_user_data: Any = None
    execution_id: int | None = None


class JobContext:
    """The running job execution. ``exit_status`` may be set by any artifact (None: it ends as
    the batch status); ``transient_user_data`` is free for the application."""

    def __init__(self, execution_id: int, app: str = "", job_name: str = "",
                 parameters: dict[str, str] | None = None,
                 properties: dict[str, str] | None = None,
                 stop_event: threading.Event | None = None):
        self.execution_id = execution_id
        self.app = app
        self.job_name = job_name
        self.parameters = dict(parameters or {})
        self.properties = dict(properties or {})
        self.batch_status = BatchStatus.STARTING
        self.exit_status: str | None = None
        self.transient_user_data: Any = None
        self._stop_event = stop_event or threading.Event()

    @property
    def stop_requested(self) -> bool:
        """True once the execution was asked to stop (a jsagent extension)."""
        return self._stop_event.is_set()

    def wait_for_stop(self, timeout: float | None = None) -> bool:
        """Block until the execution is asked to stop or ``timeout`` passes; True if asked."""
        return self._stop_event.wait(timeout)

    def copy(self) -> JobContext:
        """A context for another thread of the same execution (a partition): same ids and
        properties, its own exit status and transient data."""
        clone = JobContext(self.execution_id, self.app, self.job_name, self.parameters,
                           self.properties, self._stop_event)
        clone.batch_status = self.batch_status
        return clone


@dataclass(eq=False)
class StepContext:
    """The running step (one per partition of a partitioned step). ``exit_status`` may be set
    by any artifact of the step; ``persistent_user_data`` (any JSON value) is saved with every
    checkpoint and at the end of the step and given back on a restart; ``metrics`` are the
    live counters (:data:`METRIC_NAMES`); ``exception`` is the last one an artifact raised."""

    step_name: str
    properties: dict[str, str] = field(default_factory=dict)
    batch_status: str = BatchStatus.STARTING
    exit_status: str | None = None
    transient_user_data: Any = None
    persistent_user_data: Any = None
    metrics: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METRIC_NAMES, 0))
    exception: BaseException | None = None
    partition: int | None = None  # the partition number inside a partition, else None


class Artifact:
    """What every artifact is given by the worker (see the module documentation)."""

    job_context: JobContext
    step_context: StepContext | None
    job_parameters: dict[str, str]


# --- steps ------------------------------------------------------------------------------------

class Batchlet(Artifact):
    """A task step: override :meth:`process`, and :meth:`stop` if it can stop early."""

    def process(self) -> str | None:
        """Do the step's work; return its exit status or None. Raising fails the step."""
        raise NotImplementedError

    def stop(self) -> None:
        """Called from another thread when the execution is asked to stop; ``process()``
        should then return soon, and the step ends ``stopped``."""


class ItemReader(Artifact):
    """Reads the items of a chunk step."""

    def open(self, checkpoint: Any) -> None:
        """Prepare; ``checkpoint`` is the last committed :meth:`checkpoint_info` (None at first)."""

    def read_item(self) -> Any:
        """The next item, or None at the end of the data."""
        raise NotImplementedError

    def checkpoint_info(self) -> Any:
        """Where the reader is (any JSON value), saved with each committed chunk."""
        return None

    def close(self) -> None:
        """Release resources (also called before a rollback re-opens the reader)."""


class ItemProcessor(Artifact):
    """Turns a read item into the item to write."""

    def process_item(self, item: Any) -> Any:
        """The item to write, or None to filter the item out."""
        raise NotImplementedError


class ItemWriter(Artifact):
    """Writes the items of each chunk."""

    def open(self, checkpoint: Any) -> None:
        """Prepare; ``checkpoint`` is the last committed :meth:`checkpoint_info` (None at first)."""

    def write_items(self, items: list[Any]) -> None:
        """Write one chunk's items (possibly an empty list when all were filtered)."""
        raise NotImplementedError

    def checkpoint_info(self) -> Any:
        """Where the writer is (any JSON value), saved with each committed chunk."""
        return None

    def close(self) -> None:
        """Release resources (also called before a rollback re-opens the writer)."""


class CheckpointAlgorithm(Artifact):
    """A custom checkpoint policy (``checkpoint-policy: custom``). The worker calls
    ``check_point_timeout()`` instead of ``checkpoint_timeout()`` when a class defines it."""

    def checkpoint_timeout(self) -> int:
        """Seconds for the next chunk (0: no limit); informative only, there is no transaction."""
        return 0

    def begin_checkpoint(self) -> None:
        """A checkpoint interval (chunk) begins."""

    def is_ready_to_checkpoint(self) -> bool:
        """Called after each item: True ends the chunk here."""
        raise NotImplementedError

    def end_checkpoint(self) -> None:
        """The chunk was committed."""


class Decider(Artifact):
    """Chooses the way on at a decision: ``decide`` returns the exit status that the
    decision's transitions match (it also becomes the job's exit status)."""

    def decide(self, executions: list[StepExecution]) -> str:
        """``executions``: the last step execution(s) of the element before the decision."""
        raise NotImplementedError


# --- partitions -------------------------------------------------------------------------------

class PartitionMapper(Artifact):
    def map_partitions(self) -> PartitionPlan | dict:
        """The plan: how many partitions, on how many threads, with which properties."""
        raise NotImplementedError


class PartitionCollector(Artifact):
    def collect_partition_data(self) -> Any:
        """Called on the partition's thread after each chunk and at the end of the partition;
        the value goes to :meth:`PartitionAnalyzer.analyze_collector_data`."""
        return None


class PartitionAnalyzer(Artifact):
    """Runs on the step's own thread."""

    def analyze_collector_data(self, data: Any) -> None:
        """One value from a partition's collector."""

    def analyze_status(self, batch_status: str, exit_status: str | None) -> None:
        """A partition ended with these statuses."""


class PartitionReducer(Artifact):
    """Demarcates the partitioned step as a unit of work (runs on the step's thread)."""

    def begin_partitioned_step(self) -> None:
        """Before the mapper is called and before any partition starts."""

    def before_partitioned_step_completion(self) -> None:
        """After all partitions ended well (not called when rolling back)."""

    def rollback_partitioned_step(self) -> None:
        """A partition failed or stopped, or a partition artifact raised."""

    def after_partitioned_step_completion(self, status: str) -> None:
        """Last; ``status`` is ``"COMMIT"`` or ``"ROLLBACK"``."""


# --- listeners --------------------------------------------------------------------------------

class JobListener(Artifact):
    def before_job(self) -> None: ...
    def after_job(self) -> None: ...


class StepListener(Artifact):
    def before_step(self) -> None: ...
    def after_step(self) -> None: ...


class ChunkListener(Artifact):
    def before_chunk(self) -> None: ...
    def on_error(self, exception: BaseException) -> None: ...
    def after_chunk(self) -> None: ...


class ItemReadListener(Artifact):
    def before_read(self) -> None: ...
    def after_read(self, item: Any) -> None: ...
    def on_read_error(self, exception: BaseException) -> None: ...


class ItemProcessListener(Artifact):
    def before_process(self, item: Any) -> None: ...
    def after_process(self, item: Any, result: Any) -> None: ...
    def on_process_error(self, item: Any, exception: BaseException) -> None: ...


class ItemWriteListener(Artifact):
    def before_write(self, items: list[Any]) -> None: ...
    def after_write(self, items: list[Any]) -> None: ...
    def on_write_error(self, items: list[Any], exception: BaseException) -> None: ...


class SkipReadListener(Artifact):
    def on_skip_read_item(self, exception: BaseException) -> None: ...


class SkipProcessListener(Artifact):
    def on_skip_process_item(self, item: Any, exception: BaseException) -> None: ...


class SkipWriteListener(Artifact):
    def on_skip_write_item(self, items: list[Any], exception: BaseException) -> None: ...


class RetryReadListener(Artifact):
    def on_retry_read_exception(self, exception: BaseException) -> None: ...


class RetryProcessListener(Artifact):
    def on_retry_process_exception(self, item: Any, exception: BaseException) -> None: ...


class RetryWriteListener(Artifact):
    def on_retry_write_exception(self, items: list[Any], exception: BaseException) -> None: ...
