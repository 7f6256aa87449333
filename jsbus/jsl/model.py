"""The Job Specification Language as plain data: what a JSR-352 (Jakarta Batch) job can say.

Built by the document codecs (``jsbus.jsl.codec`` for JSON/EDN, ``plugins/jsl_xml`` for Job
XML), checked by ``jsbus.jsl.validation``, executed by the agent's engine. Element and attribute
names follow the specification; the JSON form is in ``docs/jsl.md``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

TRANSITION_ACTIONS = ("next", "end", "fail", "stop")


@dataclass(frozen=True)
class Ref:
    """A batch artifact: ``ref`` names its class (``pkg.mod.Class``, ``pkg.mod:Class`` or a
    registered name); ``properties`` are injected into it by name."""

    ref: str
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Transition:
    """``<next on= to=>``, ``<end on= exit-status=>``, ``<fail on= exit-status=>`` or
    ``<stop on= exit-status= restart=>``; ``on`` is an exit-status pattern with ``*`` and ``?``."""

    action: str  # one of TRANSITION_ACTIONS
    on: str
    to: str | None = None  # next
    exit_status: str | None = None  # end, fail, stop
    restart: str | None = None  # stop


@dataclass(frozen=True)
class ExceptionClasses:
    """``<include class=>`` / ``<exclude class=>`` lists (class names, qualified or not)."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Chunk:
    reader: Ref
    writer: Ref
    processor: Ref | None = None
    checkpoint_policy: str = "item"  # "item" or "custom"
    item_count: int = 10
    time_limit: int = 0  # seconds; 0 = none
    checkpoint_algorithm: Ref | None = None  # required when checkpoint_policy == "custom"
    skip_limit: int | None = None  # None = no limit
    retry_limit: int | None = None
    skippable: ExceptionClasses = ExceptionClasses()
    retryable: ExceptionClasses = ExceptionClasses()
    no_rollback: ExceptionClasses = ExceptionClasses()


@dataclass(frozen=True)
class PartitionPlan:
    """A static plan: ``partitions`` copies of the step, ``threads`` at a time (default: all),
    each with its own properties (``properties[i]`` for partition ``i``)."""

    partitions: int
    threads: int | None = None
    properties: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True)
class Partition:
    """Exactly one of ``mapper`` and ``plan``; collector, analyzer and reducer are optional."""

    mapper: Ref | None = None
    plan: PartitionPlan | None = None
    collector: Ref | None = None
    analyzer: Ref | None = None
    reducer: Ref | None = None


@dataclass(frozen=True)
class Step:
    """Exactly one of ``batchlet`` and ``chunk``; ``partition`` runs it as partitions."""

    id: str
    batchlet: Ref | None = None
    chunk: Chunk | None = None
    partition: Partition | None = None
    start_limit: int = 0  # 0 = no limit
    allow_start_if_complete: bool = False
    next: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    listeners: tuple[Ref, ...] = ()
    transitions: tuple[Transition, ...] = ()


@dataclass(frozen=True)
class Decision:
    """``decider`` is the artifact (its properties included) whose ``decide()`` returns the
    exit status that ``transitions`` match."""

    id: str
    decider: Ref
    transitions: tuple[Transition, ...] = ()


@dataclass(frozen=True)
class Flow:
    id: str
    elements: tuple["Element", ...]
    next: str | None = None
    transitions: tuple[Transition, ...] = ()


@dataclass(frozen=True)
class Split:
    id: str
    flows: tuple[Flow, ...]
    next: str | None = None


Element = Union[Step, Flow, Split, Decision]


@dataclass(frozen=True)
class Job:
    """A whole job: its top-level elements run from the first, following ``next`` and
    transitions (the specification's rules)."""

    id: str
    elements: tuple[Element, ...]
    restartable: bool = True
    properties: dict[str, str] = field(default_factory=dict)
    listeners: tuple[Ref, ...] = ()

    def walk(self):
        """Every element, depth first, with its enclosing flow or split chain."""
        def visit(elements, parents):
            for element in elements:
                yield element, parents
                if isinstance(element, Flow):
                    yield from visit(element.elements, parents + (element,))
                elif isinstance(element, Split):
                    for flow in element.flows:
                        yield flow, parents + (element,)
                        yield from visit(flow.elements, parents + (element, flow))
        yield from visit(self.elements, ())

    def steps(self) -> list[Step]:
        return [element for element, _ in self.walk() if isinstance(element, Step)]
