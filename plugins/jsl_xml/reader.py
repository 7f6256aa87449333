"""Job XML (JSR-352 / Jakarta Batch) -> the JSON form of ``docs/jsl.md``.

Only what the JSL XSD allows is read: an unknown element or attribute, a missing required
attribute, text where none belongs or a repeated single element is a problem naming where it is.
Values are handed to the JSON codec as the strings they are (it reads numbers and booleans).
Documents with a DOCTYPE (hence entity declarations) are refused before they are parsed.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.parsers import expat

from jsbus import limits
from jsbus.errors import JobDefinitionError

JAVAEE = "http://xmlns.jcp.org/xml/ns/javaee"  # JSR-352 1.0, version="1.0"
JAKARTA = "https://jakarta.ee/xml/ns/jakartaee"  # Jakarta Batch 2.x, version="2.0"
VERSIONS = {JAVAEE: "1.0", JAKARTA: "2.0"}
XSI = "http://www.w3.org/2001/XMLSchema-instance"  # xsi:schemaLocation and the like are ignored
ELEMENTS = ("step", "flow", "split", "decision")
TRANSITIONS = {"next": ({"on", "to"}, ("on", "to")), "end": ({"on", "exit-status"}, ("on",)),
               "fail": ({"on", "exit-status"}, ("on",)),
               "stop": ({"on", "exit-status", "restart"}, ("on",))}
EXCEPTION_FILTERS = ("skippable-exception-classes", "retryable-exception-classes",
                     "no-rollback-exception-classes")
UNSTRIPPED = {"value", "on", "exit-status"}  # attribute values kept exactly as written


class _Refused(Exception):
    pass


def _refuse(*_args) -> None:
    raise _Refused()


class _Bounds:
    """expat handlers enforcing ``[limits]`` (``jsbus.limits``) while the text streams by:
    element depth, children of one element, text and attribute value lengths."""

    def __init__(self, parser, bounds: limits.Limits):
        self.bounds, self.path, self.children, self.text = bounds, [], [0], 0
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.CharacterDataHandler = self.characters

    def where(self) -> str:
        return "document: <" + "/".join(self.path) + ">" if self.path else "document"

    def start(self, tag: str, attributes: dict) -> None:
        self.children[-1] += 1
        if self.children[-1] > self.bounds.max_items:
            raise limits.LimitExceeded(f"{self.where()}: more than {self.bounds.max_items} "
                                       f"child elements (limits.max_items)")
        self.path.append(tag.rpartition("}")[2][:64])
        self.children.append(0)
        self.text = 0
        if len(self.path) > self.bounds.max_depth:
            raise limits.LimitExceeded(f"{self.where()}: elements nested deeper than "
                                       f"{self.bounds.max_depth} levels (limits.max_depth)")
        for name, value in attributes.items():
            if len(value) > self.bounds.max_string:
                raise limits.LimitExceeded(f"{self.where()} attribute {name.rpartition('}')[2]}"
                                           f": {len(value)} characters; the limit is "
                                           f"{self.bounds.max_string} (limits.max_string)")

    def end(self, tag: str) -> None:
        self.path.pop()
        self.children.pop()
        self.text = 0

    def characters(self, data: str) -> None:
        self.text += len(data)
        if self.text > self.bounds.max_string:
            raise limits.LimitExceeded(f"{self.where()}: text longer than "
                                       f"{self.bounds.max_string} characters (limits.max_string)")


def guard(body: bytes | str) -> None:
    """Refuse a DOCTYPE or ENTITY declaration (entity expansion: billion laughs, external
    entities), malformed XML and XML beyond ``[limits]`` (LimitExceeded), before any tree is
    built."""
    parser = expat.ParserCreate(namespace_separator="}")
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    _Bounds(parser, limits.current())
    try:
        parser.Parse(body, True)
    except _Refused:
        raise JobDefinitionError("refused XML: <!DOCTYPE> and <!ENTITY> declarations are not "
                                 "allowed in a job document") from None
    except (expat.ExpatError, LookupError, ValueError) as exc:  # LookupError: unknown encoding
        raise JobDefinitionError(f"malformed XML: {exc}") from None


class _Reader:
    def __init__(self, namespace: str | None):
        self.namespace = namespace
        self.problems: list[str] = []

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def tag(self, element: ET.Element) -> str:
        """The local name, or the full ``{namespace}name`` of an element from elsewhere."""
        namespace, _, local = element.tag[1:].partition("}") if element.tag.startswith("{") \
            else (None, "", element.tag)
        return local if namespace == self.namespace else element.tag

    def attrs(self, element: ET.Element, where: str, allowed: set[str],
              required: tuple[str, ...] = ()) -> dict[str, str]:
        tag, out = self.tag(element), {}
        for key, value in element.attrib.items():
            if key.startswith("{" + XSI + "}"):
                continue
            if key not in allowed:
                self.fail(where, f"unknown attribute {key!r} on <{tag}>")
            else:
                out[key] = value if key in UNSTRIPPED else value.strip()
        for key in required:
            if key not in out:
                self.fail(where, f"<{tag}> needs attribute {key}")
        if (element.text or "").strip():
            self.fail(where, f"unexpected text {element.text.strip()[:30]!r} in <{tag}>")
        return out

    def children(self, element: ET.Element, where: str, allowed: dict[str, int | None]):
        """(tag, child) of the allowed children; ``allowed`` maps a tag to its maximum count."""
        counts: dict[str, int] = {}
        for child in element:
            tag = self.tag(child)
            if (child.tail or "").strip():
                self.fail(where, f"unexpected text {child.tail.strip()[:30]!r} after <{tag}>")
            if tag not in allowed:
                self.fail(where, f"unknown element <{tag}> in <{self.tag(element)}>")
                continue
            counts[tag] = counts.get(tag, 0) + 1
            if allowed[tag] is not None and counts[tag] > allowed[tag]:
                if counts[tag] == allowed[tag] + 1:
                    self.fail(where, f"<{self.tag(element)}> has more than one <{tag}>")
                continue
            yield tag, child

    def properties(self, element, where, partition: bool = False) -> tuple[dict, dict]:
        here = f"{where}.properties"
        attrs = self.attrs(element, here, {"partition"} if partition else set())
        out: dict[str, str] = {}
        for _, child in self.children(element, here, {"property": None}):
            prop = self.attrs(child, here, {"name", "value"}, ("name", "value"))
            list(self.children(child, here, {}))
            if "name" in prop and prop["name"] in out:
                self.fail(here, f"property {prop['name']!r} is defined twice")
            elif "name" in prop and "value" in prop:
                out[prop["name"]] = prop["value"]
        return attrs, out

    def artifact(self, element, where) -> dict:
        attrs = self.attrs(element, where, {"ref"}, ("ref",))
        out = {"ref": attrs.get("ref", "")}
        for _, child in self.children(element, where, {"properties": 1}):
            out["properties"] = self.properties(child, where)[1]
        return out

    def listeners(self, element, where) -> list:
        here = f"{where}.listeners"
        self.attrs(element, here, set())
        return [self.artifact(child, f"{here}[{index}]") for index, (_, child)
                in enumerate(self.children(element, here, {"listener": None}))]

    def transition(self, tag, element, where) -> dict:
        allowed, required = TRANSITIONS[tag]
        attrs = self.attrs(element, f"{where}.{tag}", allowed, required)
        list(self.children(element, f"{where}.{tag}", {}))
        return {"on": attrs.get("on", ""), "action": tag,
                **{key: attrs[key] for key in ("to", "exit-status", "restart") if key in attrs}}

    def exception_filter(self, element, where) -> dict:
        self.attrs(element, where, set())
        out: dict[str, list[str]] = {}
        for tag, child in self.children(element, where, {"include": None, "exclude": None}):
            attrs = self.attrs(child, f"{where}.{tag}", {"class"}, ("class",))
            list(self.children(child, f"{where}.{tag}", {}))
            if "class" in attrs:
                out.setdefault(tag, []).append(attrs["class"])
        return out

    def chunk(self, element, where) -> dict:
        out: dict = self.attrs(element, where, {"checkpoint-policy", "item-count", "time-limit",
                                                "skip-limit", "retry-limit"})
        allowed = dict.fromkeys(("reader", "processor", "writer", "checkpoint-algorithm",
                                 *EXCEPTION_FILTERS), 1)
        for tag, child in self.children(element, where, allowed):
            out[tag] = (self.exception_filter(child, f"{where}.{tag}") if tag in EXCEPTION_FILTERS
                        else self.artifact(child, f"{where}.{tag}"))
        return out

    def plan(self, element, where) -> dict:
        out: dict = self.attrs(element, where, {"partitions", "threads"})
        count = out.get("partitions", "1")
        limit = int(count) if count.isdigit() else None  # else the codec reports partitions
        by_number: dict[int, dict] = {}
        for _, child in self.children(element, where, {"properties": None}):
            attrs, props = self.properties(child, where, partition=True)
            number = attrs.get("partition")
            if number is None:
                self.fail(where, "<properties> in <plan> needs attribute partition")
            elif not number.isdigit():
                self.fail(where, f"properties partition {number!r} is not a whole number >= 0")
            elif limit is not None and int(number) >= limit:
                self.fail(where, f"properties partition {number} is not below partitions {limit}")
            elif int(number) in by_number:
                self.fail(where, f"properties partition {number} is given twice")
            else:
                by_number[int(number)] = props
        if by_number and limit is not None:
            out["properties"] = [by_number.get(index, {}) for index in range(max(by_number) + 1)]
        return out

    def partition(self, element, where) -> dict:
        self.attrs(element, where, set())
        allowed = dict.fromkeys(("mapper", "plan", "collector", "analyzer", "reducer"), 1)
        return {tag: (self.plan(child, f"{where}.plan") if tag == "plan"
                      else self.artifact(child, f"{where}.{tag}"))
                for tag, child in self.children(element, where, allowed)}

    def element(self, tag, element, where) -> dict:
        allowed = {"step": {"id", "start-limit", "allow-start-if-complete", "next"},
                   "flow": {"id", "next"}, "split": {"id", "next"}, "decision": {"id", "ref"}}
        element_id = element.get("id", "").strip()
        where = f"{tag} {element_id}" if element_id else where
        out: dict = self.attrs(element, where, allowed[tag],
                               ("id", "ref") if tag == "decision" else ("id",))
        if tag != "step":
            out = {"type": tag, **out}
        children = {"properties": 1} if tag in ("step", "decision") else {}
        if tag == "step":
            children.update(listeners=1, batchlet=1, chunk=1, partition=1)
        elif tag == "flow":
            children.update(dict.fromkeys(ELEMENTS))
            out["steps"] = []
        elif tag == "split":
            children["flow"] = None
            out["flows"] = []
        if tag != "split":
            children.update(dict.fromkeys(TRANSITIONS))
        for child_tag, child in self.children(element, where, children):
            if child_tag in TRANSITIONS:
                out.setdefault("transitions", []).append(self.transition(child_tag, child, where))
            elif child_tag in ELEMENTS:
                key = "flows" if tag == "split" else "steps"
                out[key].append(self.element(child_tag, child, f"{where}.{key}[{len(out[key])}]"))
            elif child_tag == "properties":
                out["properties"] = self.properties(child, where)[1]
            elif child_tag == "listeners":
                out["listeners"] = self.listeners(child, where)
            else:
                read = self.artifact if child_tag == "batchlet" else getattr(self, child_tag)
                out[child_tag] = read(child, f"{where}.{child_tag}")
        return out

    def job(self, root: ET.Element) -> dict:
        where = f"job {root.get('id', '').strip()}".strip()
        attrs = self.attrs(root, where, {"id", "restartable", "version"}, ("id",))
        version = attrs.pop("version", None)
        if version is not None and version not in ("1.0", "2.0"):
            self.fail(where, f"version {version!r} is not 1.0 (JSR-352) or 2.0 (Jakarta Batch)")
        out: dict = {**attrs, "steps": []}
        allowed = {"properties": 1, "listeners": 1, **dict.fromkeys(ELEMENTS)}
        for tag, child in self.children(root, where, allowed):
            if tag == "properties":
                out["properties"] = self.properties(child, where)[1]
            elif tag == "listeners":
                out["listeners"] = self.listeners(child, where)
            else:
                out["steps"].append(self.element(tag, child, f"steps[{len(out['steps'])}]"))
        return out


def document_from_xml(body: bytes | str) -> dict:
    """The JSON form of a Job XML document; JobDefinitionError naming every XML problem."""
    guard(body)
    try:
        root = ET.fromstring(body)
    except (ET.ParseError, LookupError, ValueError) as exc:  # guard's parser would have said
        raise JobDefinitionError(f"malformed XML: {exc}") from None
    namespace = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else None
    if namespace is not None and namespace not in VERSIONS:
        raise JobDefinitionError(f"job: unknown namespace {namespace!r}; Job XML uses {JAKARTA!r} "
                                 f"or {JAVAEE!r}")
    reader = _Reader(namespace)
    if reader.tag(root) != "job":
        raise JobDefinitionError(f"the root element must be <job>, not <{reader.tag(root)}>")
    document = reader.job(root)
    if reader.problems:
        raise JobDefinitionError(reader.problems)
    return document
