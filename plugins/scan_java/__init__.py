"""Built-in batch-component scanner for Java: reads class files, never starts a JVM.

Every entry given to one scan (jars, wars, zips of class files, classes directories) forms one
classpath; the first definition of a class wins, as on the JVM. A class is a component when it
can be instantiated by name (public, concrete, top-level or static nested, not anonymous) and
implements a batch API interface of ``javax.batch.api`` or ``jakarta.batch.api``: directly, or
through its superclasses and superinterfaces on the classpath, or through the API's own abstract
classes (``AbstractBatchlet``...), which the runtime provides. Its ref is its ``@Named`` name
(CDI's default when the annotation has no value), else its class name.
"""
from __future__ import annotations

import re
from pathlib import Path

from jsbus.backends import BatchComponent, ComponentScanner, ScanResult
from jsbus.hookspecs import hookimpl

from .batch_api import INTERFACE_OF_ABSTRACT_CLASS, KIND_OF_INTERFACE, NAMED_ANNOTATIONS
from .classfile import (ACC_ABSTRACT, ACC_ANNOTATION, ACC_ENUM, ACC_INTERFACE, ACC_MODULE,
                        ACC_PUBLIC, ACC_STATIC, ACC_SYNTHETIC, ClassFormatError, JavaClass,
                        parse_class)
from .classpath import ReadLimits, class_files

_NOT_INSTANTIABLE = ACC_INTERFACE | ACC_ABSTRACT | ACC_ANNOTATION | ACC_ENUM | ACC_MODULE | \
    ACC_SYNTHETIC
_ANONYMOUS_OR_LOCAL = re.compile(r"\$\d")  # javac names them Outer$1, Outer$1Local
_MAX_HIERARCHY_DEPTH = 200  # real ones are under 20; recursion stays well in Python's limit
_PROBLEMS_PER_ENTRY = 50


def scan(entries: list[Path], config, *, limits: ReadLimits = ReadLimits()) -> ScanResult:
    """Batch components in ``entries``; entries that are not Java's are skipped."""
    classes: dict[str, tuple[JavaClass, str]] = {}
    problems: list[str] = []
    for entry in map(Path, entries):
        entry_problems: list[str] = []
        for java_class in _read_classes(entry, entry_problems, limits):
            classes.setdefault(java_class.name, (java_class, str(entry)))
        problems += _summarized(entry, entry_problems)
    hierarchy = _Hierarchy({name: java_class for name, (java_class, _) in classes.items()})
    components = [component for java_class, entry in classes.values() if _instantiable(java_class)
                  for component in _components(java_class, entry, hierarchy)]
    components.sort(key=lambda c: (c.class_name, c.kind))
    return ScanResult(components=tuple(components), problems=tuple(problems))


def _read_classes(entry: Path, problems: list[str], limits: ReadLimits):
    for class_path, data in class_files(entry, problems, limits):
        try:
            yield parse_class(data)
        except ClassFormatError as exc:
            problems.append(f"{entry}: {class_path}: not a readable class file: {exc}")


def _summarized(entry: Path, problems: list[str]) -> list[str]:
    if len(problems) <= _PROBLEMS_PER_ENTRY:
        return problems
    hidden = len(problems) - _PROBLEMS_PER_ENTRY
    return problems[:_PROBLEMS_PER_ENTRY] + [f"{entry}: {hidden} more problems not listed"]


def _instantiable(java_class: JavaClass) -> bool:
    """What a runtime can create by class name: public, concrete, not anonymous or local, and
    static when nested (an inner class needs an enclosing instance)."""
    if java_class.access & _NOT_INSTANTIABLE or not java_class.access & ACC_PUBLIC:
        return False
    if _ANONYMOUS_OR_LOCAL.search(java_class.name.rpartition("/")[2]):
        return False
    nested = java_class.nested_access
    return nested is None or bool(nested & ACC_STATIC and java_class.inner_name)


def _components(java_class: JavaClass, entry: str, hierarchy: _Hierarchy):
    kinds = {KIND_OF_INTERFACE[name] for name in hierarchy.api_interfaces(java_class.name)}
    class_name = java_class.name.replace("/", ".")
    ref = _ref(java_class) or class_name
    return [BatchComponent(kind, ref, class_name, "java", entry) for kind in sorted(kinds)]


def _ref(java_class: JavaClass) -> str | None:
    """The ``@Named`` name; without a value, CDI's default: the simple class name with its
    first letter lower-cased."""
    for annotation in NAMED_ANNOTATIONS:
        if annotation in java_class.annotations:
            simple = java_class.simple_name
            return java_class.annotations[annotation].get("value") or \
                simple[:1].lower() + simple[1:]
    return None


class _Hierarchy:
    """Which batch API interfaces each class of the classpath implements, memoized."""

    def __init__(self, classes: dict[str, JavaClass]):
        self.classes = classes
        self.known: dict[str, frozenset[str]] = {}

    def api_interfaces(self, name: str, depth: int = 0) -> frozenset[str]:
        if name in KIND_OF_INTERFACE:
            return frozenset((name,))
        if name in INTERFACE_OF_ABSTRACT_CLASS:
            return frozenset((INTERFACE_OF_ABSTRACT_CLASS[name],))
        if name in self.known:
            return self.known[name]
        java_class = self.classes.get(name)
        if java_class is None or depth > _MAX_HIERARCHY_DEPTH:
            return frozenset()  # not on the classpath (java/lang/Object...), or hostile
        self.known[name] = frozenset()  # a cycle (only in hostile input) ends here
        parents = (java_class.super_name, *java_class.interfaces)
        found = frozenset().union(*(self.api_interfaces(parent, depth + 1)
                                    for parent in parents if parent))
        self.known[name] = found
        return found


@hookimpl
def jsbus_register_scanners(config):
    return [ComponentScanner(name="java", scan=scan)]
