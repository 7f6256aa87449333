"""Rules of a job (the document shape is ``codec``'s): ids, transitions, loops, step bodies.

``validate(job, classpath)`` raises JobDefinitionError naming every element that breaks a rule
and returns warnings for what the specification allows but is likely a mistake. ``check`` returns
both lists without raising. ``step_problems`` holds the rules local to one step; the codec runs
it while reading, so a document reports them with its shape problems. ``docs/jsl.md`` lists the
rules and the message of each.
"""
from __future__ import annotations

import os
import re
import zipfile
from typing import Sequence
from urllib.parse import unquote, urlparse

from jsbus.errors import JobDefinitionError
from jsbus.jsl.model import TRANSITION_ACTIONS, Decision, Flow, Job, Split, Step

ID_PATTERN = re.compile(r"^[\w\-]+$")
BUILTIN_REFS = frozenset({"shell", "python-main", "java-main"})
_DOTTED = r"[A-Za-z_][\w$]*(?:\.[A-Za-z_][\w$]*)*"
REF_PATTERN = re.compile(rf"^{_DOTTED}\.[A-Za-z_][\w$]*$|^{_DOTTED}:{_DOTTED}$")
KINDS = {Step: "step", Flow: "flow", Split: "split", Decision: "decision"}


def name(element) -> str:
    """``step load``, ``flow f1``...: how messages name an element."""
    return f"{KINDS.get(type(element), 'element')} {element.id}"


def walk(job: Job):
    """``Job.walk`` that also tolerates a split holding something other than flows."""
    def visit(elements, parents):
        for element in elements:
            yield element, parents
            if isinstance(element, Flow):
                yield from visit(element.elements, parents + (element,))
            elif isinstance(element, Split):
                yield from visit(element.flows, parents + (element,))
    yield from visit(job.elements, ())


def id_problems(kind: str, element_id: str | None) -> list[str]:
    """An id must match ID_PATTERN (a missing id is the codec's problem)."""
    if element_id and not ID_PATTERN.match(element_id):
        return [f"{kind} {element_id}: id must match {ID_PATTERN.pattern}"]
    return []


def step_problems(step: Step) -> list[str]:
    """The rules inside one step: its body, chunk and partition."""
    chunk, partition = step.chunk, step.partition
    plan = partition.plan if partition is not None else None
    rules = [(step.batchlet is not None and chunk is not None,
              "has both batchlet and chunk; a step has exactly one"),
             (step.batchlet is None and chunk is None,
              "has neither batchlet nor chunk; a step has exactly one"),
             (step.start_limit < 0, f"start-limit must be >= 0, not {step.start_limit}")]
    if chunk is not None:
        policy = chunk.checkpoint_policy
        rules += [(policy not in ("item", "custom"),
                   f"chunk checkpoint-policy must be item or custom, not {policy!r}"),
                  (policy == "custom" and chunk.checkpoint_algorithm is None,
                   "chunk checkpoint-policy custom needs a checkpoint-algorithm"),
                  (chunk.item_count < 1,
                   f"chunk item-count must be at least 1, not {chunk.item_count}")]
        rules += [(value is not None and value < 0, f"chunk {key} must be >= 0, not {value}")
                  for key, value in (("time-limit", chunk.time_limit),
                                     ("skip-limit", chunk.skip_limit),
                                     ("retry-limit", chunk.retry_limit))]
    if partition is not None:
        rules += [(partition.mapper is not None and plan is not None,
                   "partition has both mapper and plan; it needs exactly one"),
                  (partition.mapper is None and plan is None,
                   "partition has neither mapper nor plan; it needs exactly one")]
    if plan is not None:
        rules += [(plan.partitions < 1,
                   f"partition plan partitions must be at least 1, not {plan.partitions}"),
                  (plan.threads is not None and plan.threads < 1,
                   f"partition plan threads must be at least 1, not {plan.threads}"),
                  (len(plan.properties) > plan.partitions,
                   f"partition plan has properties for {len(plan.properties)} partitions but "
                   f"partitions is {plan.partitions}")]
    return [f"{name(step)}: {message}" for broken, message in rules if broken]


def _transitions(element, problems: list[str]) -> None:
    for t in getattr(element, "transitions", ()):
        if t.action not in TRANSITION_ACTIONS:
            problems.append(f"{name(element)}: transition action {t.action!r} is not one of "
                            f"{', '.join(TRANSITION_ACTIONS)}")
        elif not t.on:
            problems.append(f"{name(element)}: {t.action} transition needs on")
        elif t.action == "next" and not t.to:
            problems.append(f"{name(element)}: next transition on {t.on!r} needs to")


def _element_problems(job: Job, problems: list[str]) -> None:
    problems.extend(id_problems("job", job.id or " "))
    if not job.elements:
        problems.append(f"job {job.id}: has no elements; a job needs at least one")
    users: dict[str, list[str]] = {}
    for element, _ in walk(job):
        who = name(element)
        users.setdefault(element.id, []).append(KINDS.get(type(element), "element"))
        problems.extend(id_problems(KINDS.get(type(element), "element"), element.id or " "))
        if isinstance(element, Step):
            problems.extend(step_problems(element))
        elif isinstance(element, Flow) and not element.elements:
            problems.append(f"{who}: has no elements; a flow needs at least one")
        elif isinstance(element, Split):
            if not element.flows:
                problems.append(f"{who}: has no flows; a split needs at least one")
            for inner in element.flows:
                if not isinstance(inner, Flow):
                    problems.append(f"{who}: holds {name(inner)}; a split holds flows only")
        _transitions(element, problems)
    for element_id, kinds in users.items():
        if len(kinds) > 1:
            problems.append(f"{kinds[0]} {element_id}: id {element_id!r} is used by "
                            f"{len(kinds)} elements ({', '.join(kinds)}); ids are unique in a job")


def _scopes(job: Job):
    """(label, owner, elements) of the job's top level and of every flow."""
    yield "the job", None, job.elements
    for element, _ in walk(job):
        if isinstance(element, Flow):
            yield f"flow {element.id}", element, element.elements


def _graph_problems(job: Job, problems: list[str], warnings: list[str]) -> None:
    where: dict[str, tuple] = {}  # id -> the flows and splits around the element
    for element, parents in walk(job):
        where.setdefault(element.id, parents)
    top_level = {element.id: element for element in job.elements}
    restart_targets = set()
    for element, _ in walk(job):
        for t in getattr(element, "transitions", ()):
            if t.action == "stop" and t.restart is not None:
                _check_restart(element, t.restart, where, top_level, problems)
                restart_targets.add(t.restart)
    for split in (element for element, _ in walk(job) if isinstance(element, Split)):
        for flow in split.flows:
            for what, target in _targets(flow):
                problems.append(f"{name(flow)}: {what} {target!r}: a flow inside {name(split)} "
                                f"cannot go elsewhere; the split moves on when all its flows end")
    for label, owner, elements in _scopes(job):
        if not elements:
            continue
        local = {element.id: element for element in elements}
        if isinstance(elements[0], Decision):
            problems.append(f"{name(elements[0])}: a decision cannot be the first element of "
                            f"{label}")
        edges: dict[str, list[str]] = {element.id: [] for element in elements}
        for element in elements:
            for what, target in _targets(element):
                if target in local:
                    edges[element.id].append(target)
                elif target not in where:
                    problems.append(f"{name(element)}: {what} {target!r} is not an element of "
                                    f"the job")
                elif owner is not None and not any(p is owner for p in where[target]):
                    problems.append(f"{name(element)}: {what} {target!r} leaves {label}; an "
                                    f"element inside a flow can only go to one of the same flow")
                else:
                    level = "a job-level element" if owner is None else f"an element of {label}"
                    problems.append(f"{name(element)}: {what} {target!r} is inside "
                                    f"{name(where[target][-1])}; {level} can only go to one at "
                                    f"its own level")
        for cycle in _cycles(edges, [element.id for element in elements]):
            problems.append(f"{name(local[cycle[0]])}: next and transitions make a loop "
                            f"{' -> '.join(cycle)}; no element may be transitioned to twice")
        entries = [elements[0].id] + ([r for r in restart_targets if r in local]
                                      if owner is None else [])
        reached = _reach(edges, entries)
        for element in elements:
            if element.id not in reached:
                warnings.append(f"{name(element)}: unreachable in {label}: no next or "
                                f"transition leads to it from {name(elements[0])}")


def _targets(element) -> list[tuple[str, str]]:
    """(what, id) of every place ``element`` may go next: its next attribute and transitions."""
    targets = [("next", element.next)] if getattr(element, "next", None) is not None else []
    return targets + [(f"next transition on {t.on!r} to", t.to)
                      for t in getattr(element, "transitions", ()) if t.action == "next" and t.to]


def _check_restart(element, target, where, top_level, problems) -> None:
    who = f"{name(element)}: stop restart {target!r}"
    if target not in where:
        problems.append(f"{who} is not an element of the job")
    elif target not in top_level:
        problems.append(f"{who} is not at the job's top level; restart names a job-level "
                        f"step, flow or split")
    elif isinstance(top_level[target], Decision):
        problems.append(f"{who} is a decision; restart names a job-level step, flow or split")


def _reach(edges: dict[str, list[str]], entries: list[str]) -> set[str]:
    seen, todo = set(), list(entries)
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(edges.get(node, ()))
    return seen


def _cycles(edges: dict[str, list[str]], order: list[str]) -> list[list[str]]:
    """Loops found depth first, each closed (``a -> b -> a``); one per set of looping ids."""
    state: dict[str, str] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []
    looped: set[str] = set()

    def visit(node: str) -> None:  # scopes are small: recursion is fine
        state[node] = "open"
        stack.append(node)
        for nxt in edges.get(node, ()):
            if state.get(nxt) == "open":
                cycle = stack[stack.index(nxt):] + [nxt]
                if not looped.intersection(cycle):
                    cycles.append(cycle)
                    looped.update(cycle)
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in order:
        if node not in state:
            visit(node)
    return cycles


def _artifacts(job: Job):
    """(who, what, ref) of every batch artifact of the job."""
    for ref in job.listeners:
        yield f"job {job.id}", "listener", ref
    for element, _ in walk(job):
        who = name(element)
        if isinstance(element, Decision):
            yield who, "decider", element.decider
        if not isinstance(element, Step):
            continue
        for ref in element.listeners:
            yield who, "listener", ref
        yield who, "batchlet", element.batchlet
        for part in ("reader", "processor", "writer", "checkpoint_algorithm"):
            yield who, f"chunk {part.replace('_', '-')}", getattr(element.chunk, part, None)
        for part in ("mapper", "collector", "analyzer", "reducer"):
            yield who, f"partition {part}", getattr(element.partition, part, None)


def _module_of(ref: str) -> str:
    return ref.partition(":")[0] if ":" in ref else ref.rpartition(".")[0]


def _roots(classpath: Sequence[str]) -> list:
    """Directories (paths) and zip files (name sets) of ``classpath``; other URLs are skipped."""
    roots = []
    for entry in classpath:
        url = urlparse(entry)
        if url.scheme == "file":
            entry = unquote(url.path)
        elif url.scheme and len(url.scheme) > 1:  # http: and the like; "C:" is a drive
            continue
        if os.path.isdir(entry):
            roots.append(entry)
        elif zipfile.is_zipfile(entry):
            with zipfile.ZipFile(entry) as archive:
                roots.append(set(archive.namelist()))
    return roots


def _found(module: str, roots: list) -> bool:
    stem = module.replace(".", "/")
    for root in roots:
        for candidate in (f"{stem}.py", f"{stem}/__init__.py"):
            if (candidate in root if isinstance(root, set)
                    else os.path.isfile(os.path.join(root, candidate))):
                return True
    return False


def _ref_problems(job: Job, classpath: Sequence[str], problems: list[str],
                  warnings: list[str]) -> None:
    """Refs must have a form the agent can load; with a classpath, also be found in it."""
    roots = _roots(classpath) if classpath else None
    for who, what, ref in _artifacts(job):
        if ref is None or "#{" in ref.ref:  # absent, or a substitution resolved at run time
            continue
        text = ref.ref
        if not text:
            problems.append(f"{who}: {what} ref is empty")
        elif ID_PATTERN.match(text):
            if roots is not None and text not in BUILTIN_REFS:
                warnings.append(f"{who}: {what} ref {text!r} is an unknown name (not a built-in "
                                f"and not package.module.Class)")
        elif not REF_PATTERN.match(text):
            problems.append(f"{who}: {what} ref {text!r} is not a class reference "
                            f"(package.module.Class, package.module:Class or a name)")
        elif roots is not None and not _found(_module_of(text), roots):
            module = _module_of(text)
            warnings.append(f"{who}: {what} ref {text!r} not found in the classpath "
                            f"(no {module.replace('.', '/')}.py or "
                            f"{module.replace('.', '/')}/__init__.py)")


def check(job: Job, classpath: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """(problems, warnings) of ``job``, without raising."""
    problems: list[str] = []
    warnings: list[str] = []
    _element_problems(job, problems)
    _graph_problems(job, problems, warnings)
    for element, _ in walk(job):
        if isinstance(element, Decision) and not element.transitions:
            warnings.append(f"{name(element)}: has no transitions; the job ends after it "
                            f"whatever the decider returns")
        chunk = getattr(element, "chunk", None)
        if chunk is not None and chunk.checkpoint_policy == "item" and chunk.checkpoint_algorithm:
            warnings.append(f"{name(element)}: chunk checkpoint-algorithm is ignored unless "
                            f"checkpoint-policy is custom")
    _ref_problems(job, classpath, problems, warnings)
    return problems, warnings


def validate(job: Job, classpath: Sequence[str] = ()) -> list[str]:
    """Raise JobDefinitionError listing every problem; return the warnings.

    ``classpath`` (directories as paths or ``file://`` URLs, or zip files) turns on the check that
    every ``ref`` can be found; without it refs are only checked for their form.
    """
    problems, warnings = check(job, classpath)
    if problems:
        raise JobDefinitionError(problems)
    return warnings
