"""The JSON form of a job (``docs/jsl.md``) <-> ``jsbus.jsl.model``. EDN uses the same form.

``job_from_document`` checks the shape (types, required and unknown keys) and names the element
of every problem; it also runs ``validation.step_problems`` on each well-shaped step, so that the
rules inside a step come with the shape problems. The rules between elements (ids, transitions,
loops) are ``jsbus.jsl.validation``'s. ``job_to_document`` writes the canonical form, leaving out
defaults, so that ``job_from_document(job_to_document(job)) == job``.
"""
from __future__ import annotations

from typing import Any

from jsbus.errors import JobDefinitionError
from jsbus.jsl.model import (TRANSITION_ACTIONS, Chunk, Decision, Element, ExceptionClasses, Flow,
                             Job, Partition, PartitionPlan, Ref, Split, Step, Transition)
from jsbus.jsl.validation import id_problems, step_problems

EXCEPTION_KEYS = {"skippable-exception-classes": "skippable",
                  "retryable-exception-classes": "retryable",
                  "no-rollback-exception-classes": "no_rollback"}


class _Reader:
    """Collects every problem of one document, each with its path."""

    def __init__(self):
        self.problems: list[str] = []

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}" if where else message)

    def obj(self, value: Any, where: str, allowed: set[str],
            required: tuple[str, ...] = ()) -> dict:
        if not isinstance(value, dict):
            self.fail(where, "must be an object")
            return {}
        for key in sorted(set(value) - allowed):
            self.fail(where, f"unknown key {key!r}")
        for key in required:
            if value.get(key) in (None, ""):
                self.fail(where, f"{key} must be present")
        return value

    def text(self, node: dict, key: str, where: str) -> str | None:
        value = node.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail(where, f"{key} must be a string")
            return None
        return value

    def integer(self, node: dict, key: str, where: str, default, minimum: int = 0):
        value = node.get(key, default)
        if value is default:
            return default
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                pass
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            self.fail(where, f"{key} must be a whole number >= {minimum}")
            return default
        return value

    def boolean(self, node: dict, key: str, where: str, default: bool) -> bool:
        value = node.get(key, default)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            self.fail(where, f"{key} must be true or false")
            return default
        return value

    def properties(self, value: Any, where: str) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(where, "properties must be an object of names to values")
            return {}
        result = {}
        for name, item in value.items():
            if isinstance(item, bool):
                result[str(name)] = str(item).lower()
            elif isinstance(item, (str, int, float)):
                result[str(name)] = str(item)
            else:
                self.fail(where, f"property {name!r} must be a string, number or boolean")
        return result

    def ref(self, value: Any, where: str) -> Ref | None:
        node = self.obj(value, where, {"ref", "properties"}, ("ref",))
        ref = self.text(node, "ref", where)
        props = self.properties(node.get("properties"), where)
        return Ref(ref, props) if ref else None

    def refs(self, value: Any, where: str) -> tuple[Ref, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.fail(where, "must be a list")
            return ()
        refs = (self.ref(item, f"{where}[{index}]") for index, item in enumerate(value))
        return tuple(ref for ref in refs if ref is not None)

    def transitions(self, value: Any, where: str) -> tuple[Transition, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.fail(where, "transitions must be a list")
            return ()
        result = []
        for index, item in enumerate(value):
            here = f"{where}.transitions[{index}]"
            node = self.obj(item, here, {"on", "action", "to", "exit-status", "restart"},
                            ("on", "action"))
            action = node.get("action")
            if action is None:
                continue
            if action not in TRANSITION_ACTIONS:
                self.fail(here, f"action must be one of {', '.join(TRANSITION_ACTIONS)}")
                continue
            if action == "next" and not node.get("to"):
                self.fail(here, "a next transition needs to")
            if action != "next" and "to" in node:
                self.fail(here, f"{'an' if action == 'end' else 'a'} {action} transition has no to")
            if action != "stop" and "restart" in node:
                self.fail(here, "only a stop transition has restart")
            if action == "next" and "exit-status" in node:
                self.fail(here, "a next transition has no exit-status")
            on = self.text(node, "on", here)
            if on:
                result.append(Transition(action=action, on=on, to=self.text(node, "to", here),
                                         exit_status=self.text(node, "exit-status", here),
                                         restart=self.text(node, "restart", here)))
        return tuple(result)

    def exception_classes(self, value: Any, where: str) -> ExceptionClasses:
        if value is None:
            return ExceptionClasses()
        node = self.obj(value, where, {"include", "exclude"})
        lists = {}
        for key in ("include", "exclude"):
            items = node.get(key, [])
            if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
                self.fail(where, f"{key} must be a list of class names")
                items = []
            lists[key] = tuple(items)
        return ExceptionClasses(**lists)

    def chunk(self, value: Any, where: str) -> Chunk | None:
        allowed = {"reader", "processor", "writer", "checkpoint-policy", "item-count",
                   "time-limit", "checkpoint-algorithm", "skip-limit", "retry-limit",
                   *EXCEPTION_KEYS}
        node = self.obj(value, where, allowed, ("reader", "writer"))
        reader = self.ref(node["reader"], f"{where}.reader") if "reader" in node else None
        writer = self.ref(node["writer"], f"{where}.writer") if "writer" in node else None
        processor = (self.ref(node["processor"], f"{where}.processor")
                     if "processor" in node else None)
        policy = node.get("checkpoint-policy", "item")
        if policy not in ("item", "custom"):
            self.fail(where, "checkpoint-policy must be item or custom")
        algorithm = (self.ref(node["checkpoint-algorithm"], f"{where}.checkpoint-algorithm")
                     if "checkpoint-algorithm" in node else None)
        filters = {attr: self.exception_classes(node.get(key), f"{where}.{key}")
                   for key, attr in EXCEPTION_KEYS.items()}
        chunk = Chunk(reader=reader, writer=writer, processor=processor, checkpoint_policy=policy,
                      item_count=self.integer(node, "item-count", where, 10),
                      time_limit=self.integer(node, "time-limit", where, 0),
                      checkpoint_algorithm=algorithm,
                      skip_limit=self.integer(node, "skip-limit", where, None),
                      retry_limit=self.integer(node, "retry-limit", where, None), **filters)
        return chunk if reader and writer else None

    def partition(self, value: Any, where: str) -> Partition | None:
        node = self.obj(value, where, {"mapper", "plan", "collector", "analyzer", "reducer"})
        parts = {key: self.ref(node[key], f"{where}.{key}")
                 for key in ("mapper", "collector", "analyzer", "reducer") if key in node}
        plan = None
        if "plan" in node:
            here = f"{where}.plan"
            raw = self.obj(node["plan"], here, {"partitions", "threads", "properties"})
            props = raw.get("properties", [])
            if not isinstance(props, list):
                self.fail(here, "properties must be a list, one object per partition")
                props = []
            plan = PartitionPlan(partitions=self.integer(raw, "partitions", here, 1),
                                 threads=self.integer(raw, "threads", here, None),
                                 properties=tuple(self.properties(p, f"{here}.properties[{i}]")
                                                  for i, p in enumerate(props)))
        return Partition(plan=plan, **parts)

    def element(self, value: Any, where: str) -> Element | None:
        kind = value.get("type", "step") if isinstance(value, dict) else None
        readers = {"step": self.step, "flow": self.flow, "split": self.split,
                   "decision": self.decision}
        reader = readers.get(kind) if isinstance(kind, str) else None
        if reader is None:
            self.fail(where, "must be an object whose type is step, flow, split or decision")
            return None
        return reader(value, where)

    def elements(self, value: Any, where: str) -> tuple[Element, ...]:
        if not isinstance(value, list) or not value:
            self.fail(where, "must be a non-empty list of elements")
            return ()
        found = (self.element(item, f"{where}[{index}]") for index, item in enumerate(value))
        return tuple(element for element in found if element is not None)

    def head(self, kind: str, value: dict, where: str, allowed: set[str],
             required: tuple[str, ...] = ("id",)) -> tuple[dict, str | None, str]:
        """An element's keys, id and name (``step load``, or its path while it has no id)."""
        if isinstance(value, dict) and isinstance(value.get("id"), str) and value["id"]:
            where = f"{kind} {value['id']}"
        node = self.obj(value, where, allowed, required)
        element_id = self.text(node, "id", where)
        self.problems.extend(id_problems(kind, element_id))
        return node, element_id, where

    def step(self, value: dict, where: str) -> Step | None:
        allowed = {"type", "id", "batchlet", "chunk", "partition", "start-limit",
                   "allow-start-if-complete", "next", "properties", "listeners", "transitions"}
        known = len(self.problems)
        node, step_id, where = self.head("step", value, where, allowed)
        step = Step(
            id=step_id or "",
            batchlet=(self.ref(node["batchlet"], f"{where}.batchlet")
                      if "batchlet" in node else None),
            chunk=self.chunk(node["chunk"], f"{where}.chunk") if "chunk" in node else None,
            partition=(self.partition(node["partition"], f"{where}.partition")
                       if "partition" in node else None),
            start_limit=self.integer(node, "start-limit", where, 0),
            allow_start_if_complete=self.boolean(node, "allow-start-if-complete", where, False),
            next=self.text(node, "next", where),
            properties=self.properties(node.get("properties"), where),
            listeners=self.refs(node.get("listeners"), f"{where}.listeners"),
            transitions=self.transitions(node.get("transitions"), where))
        if len(self.problems) == known:  # the step's own rules, once its shape is right
            self.problems.extend(step_problems(step))
        return step if step_id else None

    def flow(self, value: dict, where: str) -> Flow | None:
        node, flow_id, where = self.head("flow", value, where,
                                         {"type", "id", "steps", "next", "transitions"})
        flow = Flow(id=flow_id or "", elements=self.elements(node.get("steps"), f"{where}.steps"),
                    next=self.text(node, "next", where),
                    transitions=self.transitions(node.get("transitions"), where))
        return flow if flow_id else None

    def split(self, value: dict, where: str) -> Split | None:
        node, split_id, where = self.head("split", value, where, {"type", "id", "flows", "next"})
        flows = node.get("flows")
        if not isinstance(flows, list) or not flows:
            self.fail(where, "flows must be a non-empty list of flows")
            flows = []
        found = []
        for index, item in enumerate(flows):
            if isinstance(item, dict) and item.get("type", "flow") != "flow":
                self.fail(f"{where}.flows[{index}]", "a split holds flows only")
                continue
            flow = self.flow(item, f"{where}.flows[{index}]")
            if flow is not None:
                found.append(flow)
        split = Split(id=split_id or "", flows=tuple(found), next=self.text(node, "next", where))
        return split if split_id else None

    def decision(self, value: dict, where: str) -> Decision | None:
        node, decision_id, where = self.head("decision", value, where,
                                             {"type", "id", "ref", "properties", "transitions"},
                                             ("id", "ref"))
        ref = self.text(node, "ref", where)
        decision = Decision(id=decision_id or "",
                            decider=Ref(ref or "", self.properties(node.get("properties"), where)),
                            transitions=self.transitions(node.get("transitions"), where))
        return decision if decision_id and ref else None

    def job(self, value: Any) -> Job | None:
        if not isinstance(value, dict):
            self.fail("job", "must be an object")
            return None
        node = self.obj(value, "job", {"id", "restartable", "properties", "listeners", "steps"},
                        ("id",))
        job_id = self.text(node, "id", "job")
        self.problems.extend(id_problems("job", job_id))
        job = Job(id=job_id or "",
                  elements=self.elements(node.get("steps"), "steps"),
                  restartable=self.boolean(node, "restartable", "job", True),
                  properties=self.properties(node.get("properties"), "job"),
                  listeners=self.refs(node.get("listeners"), "job.listeners"))
        return job


def job_from_document(document: Any) -> Job:
    """Read the JSON (or EDN) form; raise JobDefinitionError naming every shape problem."""
    reader = _Reader()
    job = reader.job(document)
    if reader.problems:
        raise JobDefinitionError(reader.problems)
    return job


def _ref(ref: Ref) -> dict:
    return {"ref": ref.ref, **({"properties": dict(ref.properties)} if ref.properties else {})}


def _transitions(transitions) -> dict:
    if not transitions:
        return {}
    out = []
    for t in transitions:
        item = {"on": t.on, "action": t.action}
        item.update({k: v for k, v in (("to", t.to), ("exit-status", t.exit_status),
                                       ("restart", t.restart)) if v is not None})
        out.append(item)
    return {"transitions": out}


def _chunk(chunk: Chunk) -> dict:
    out = {"reader": _ref(chunk.reader), "writer": _ref(chunk.writer)}
    if chunk.processor:
        out["processor"] = _ref(chunk.processor)
    if chunk.checkpoint_policy != "item":
        out["checkpoint-policy"] = chunk.checkpoint_policy
    if chunk.checkpoint_algorithm:
        out["checkpoint-algorithm"] = _ref(chunk.checkpoint_algorithm)
    for key, value, default in (("item-count", chunk.item_count, 10),
                                ("time-limit", chunk.time_limit, 0),
                                ("skip-limit", chunk.skip_limit, None),
                                ("retry-limit", chunk.retry_limit, None)):
        if value != default:
            out[key] = value
    for key, attr in EXCEPTION_KEYS.items():
        classes = getattr(chunk, attr)
        if classes.include or classes.exclude:
            out[key] = {name: list(getattr(classes, name)) for name in ("include", "exclude")
                        if getattr(classes, name)}
    return out


def _partition(partition: Partition) -> dict:
    out = {key: _ref(getattr(partition, key))
           for key in ("mapper", "collector", "analyzer", "reducer") if getattr(partition, key)}
    if partition.plan:
        plan = {"partitions": partition.plan.partitions}
        if partition.plan.threads is not None:
            plan["threads"] = partition.plan.threads
        if partition.plan.properties:
            plan["properties"] = [dict(p) for p in partition.plan.properties]
        out["plan"] = plan
    return out


def _element(element: Element) -> dict:
    if isinstance(element, Step):
        out = {"id": element.id}
        if element.batchlet:
            out["batchlet"] = _ref(element.batchlet)
        if element.chunk:
            out["chunk"] = _chunk(element.chunk)
        if element.partition:
            out["partition"] = _partition(element.partition)
        if element.start_limit:
            out["start-limit"] = element.start_limit
        if element.allow_start_if_complete:
            out["allow-start-if-complete"] = True
        if element.listeners:
            out["listeners"] = [_ref(r) for r in element.listeners]
        if element.properties:
            out["properties"] = dict(element.properties)
    elif isinstance(element, Flow):
        out = {"type": "flow", "id": element.id, "steps": [_element(e) for e in element.elements]}
    elif isinstance(element, Split):
        out = {"type": "split", "id": element.id,
               "flows": [_element(f) for f in element.flows]}
    else:
        out = {"type": "decision", "id": element.id, "ref": element.decider.ref}
        if element.decider.properties:
            out["properties"] = dict(element.decider.properties)
    if getattr(element, "next", None):
        out["next"] = element.next
    out.update(_transitions(getattr(element, "transitions", ())))
    return out


def job_to_document(job: Job) -> dict[str, Any]:
    """The canonical JSON form: defaults left out, keys as in ``docs/jsl.md``."""
    out: dict[str, Any] = {"id": job.id}
    if not job.restartable:
        out["restartable"] = False
    if job.properties:
        out["properties"] = dict(job.properties)
    if job.listeners:
        out["listeners"] = [_ref(r) for r in job.listeners]
    out["steps"] = [_element(e) for e in job.elements]
    return out
