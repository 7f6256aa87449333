"""The JSON form of ``docs/jsl.md`` -> Job XML, children in the order of the JSL XSD."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from jsbus_plugins.jsl_xml.reader import EXCEPTION_FILTERS, JAKARTA, VERSIONS

STEP_ATTRIBUTES = ("id", "start-limit", "allow-start-if-complete", "next")
CHUNK_ATTRIBUTES = ("checkpoint-policy", "item-count", "time-limit", "skip-limit", "retry-limit")


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _set(element: ET.Element, node: dict, keys: tuple[str, ...]) -> None:
    for key in keys:
        if node.get(key) is not None:
            element.set(key, _text(node[key]))


def _properties(parent: ET.Element, properties: dict | None, partition: int | None = None) -> None:
    if not properties and partition is None:
        return
    element = ET.SubElement(parent, "properties")
    if partition is not None:
        element.set("partition", str(partition))
    for name, value in (properties or {}).items():
        ET.SubElement(element, "property", name=str(name), value=_text(value))


def _artifact(parent: ET.Element, tag: str, artifact: dict | None) -> None:
    if artifact is not None:
        element = ET.SubElement(parent, tag, ref=artifact["ref"])
        _properties(element, artifact.get("properties"))


def _listeners(parent: ET.Element, listeners: list | None) -> None:
    if listeners:
        element = ET.SubElement(parent, "listeners")
        for listener in listeners:
            _artifact(element, "listener", listener)


def _transitions(parent: ET.Element, transitions: list | None) -> None:
    for transition in transitions or ():
        element = ET.SubElement(parent, transition["action"], on=transition["on"])
        _set(element, transition, ("to", "exit-status", "restart"))


def _chunk(parent: ET.Element, chunk: dict) -> None:
    element = ET.SubElement(parent, "chunk")
    _set(element, chunk, CHUNK_ATTRIBUTES)
    for tag in ("reader", "processor", "writer", "checkpoint-algorithm"):
        _artifact(element, tag, chunk.get(tag))
    for tag in EXCEPTION_FILTERS:
        if tag in chunk:
            classes = ET.SubElement(element, tag)
            for kind in ("include", "exclude"):
                for name in chunk[tag].get(kind, ()):
                    ET.SubElement(classes, kind, {"class": name})


def _partition(parent: ET.Element, partition: dict) -> None:
    element = ET.SubElement(parent, "partition")
    _artifact(element, "mapper", partition.get("mapper"))
    if "plan" in partition:
        plan = ET.SubElement(element, "plan")
        _set(plan, partition["plan"], ("partitions", "threads"))
        for number, properties in enumerate(partition["plan"].get("properties", ())):
            _properties(plan, properties, partition=number)
    for tag in ("collector", "analyzer", "reducer"):
        _artifact(element, tag, partition.get(tag))


def _element(parent: ET.Element, node: dict) -> None:
    kind = node.get("type", "step")
    element = ET.SubElement(parent, kind)
    if kind == "step":
        _set(element, node, STEP_ATTRIBUTES)
        _properties(element, node.get("properties"))
        _listeners(element, node.get("listeners"))
        _artifact(element, "batchlet", node.get("batchlet"))
        if "chunk" in node:
            _chunk(element, node["chunk"])
        if "partition" in node:
            _partition(element, node["partition"])
    elif kind == "decision":
        _set(element, node, ("id", "ref"))
        _properties(element, node.get("properties"))
    else:
        _set(element, node, ("id", "next"))
        for child in node.get("steps" if kind == "flow" else "flows", ()):
            _element(element, child)
    _transitions(element, node.get("transitions"))


def xml_from_document(document: dict, namespace: str = JAKARTA) -> bytes:
    """Job XML (UTF-8, indented) of a JSON-form document, in ``namespace`` with its version."""
    root = ET.Element("job", {"xmlns": namespace, "id": document["id"],
                              "version": VERSIONS[namespace]})
    _set(root, document, ("restartable",))
    _properties(root, document.get("properties"))
    _listeners(root, document.get("listeners"))
    for node in document["steps"]:
        _element(root, node)
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
