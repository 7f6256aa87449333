"""The Python component API: what a job's batchlets see.

A batchlet is any class the worker can build with no arguments and that has a ``process()``
method; subclassing :class:`Batchlet` is optional but documents the contract. Before
``process()`` runs, the worker sets on the instance:

* each step property as an attribute (``self.greeting`` for the property ``greeting``; a name
  that is not an identifier is also set with ``_`` in place of the other characters),
* ``job_parameters``: the execution's parameters (a dict of str),
* ``job_context`` and ``step_context``: the :class:`JobContext` and :class:`StepContext`.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class JobContext:
    """The running job execution, as a batchlet sees it."""

    execution_id: int
    app: str
    job_name: str
    parameters: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)


@dataclass
class StepContext:
    """The running step, as a batchlet sees it."""

    step_name: str
    properties: dict[str, str] = field(default_factory=dict)


class Batchlet:
    """Base class of a batchlet step: override :meth:`process`, and :meth:`stop` if it can."""

    job_context: JobContext
    step_context: StepContext
    job_parameters: dict[str, str]

    def process(self) -> str | None:
        """Do the step's work. Return its exit status, or None for ``"COMPLETED"``.

        Raising (``sys.exit`` included) fails the step and the execution.
        """
        raise NotImplementedError

    def stop(self) -> None:
        """Called from another thread when the execution is asked to stop.

        ``process()`` should return soon after; the step then ends ``stopped``.
        """
