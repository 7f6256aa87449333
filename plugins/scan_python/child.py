"""The scanner's child process: imports an application's modules and streams what it finds.

Run as a script, never imported by the bus: ``python -I -B child.py request.json``. The request
names the entries (``[kind, path]`` with kind ``tree`` for a directory or zip file and ``file``
for a single module), the modules to skip (they crashed or hung an earlier child), the modules
already reported (plain modules among them are not imported again) and the module budget.

Everything written to stdout is one JSON object a line: ``{"importing", "entry"}`` before each
import, then ``{"module", "entry", "components", "problems"}``; ``{"problem", "entry"}`` for an
entry that cannot be listed; ``{"truncated": n}`` when the budget ran out; ``{"done": true}``
last. The application's own output goes to stderr: fd 1 is pointed at fd 2 before any import
and the stream is written to a duplicate of the original fd 1.

Only the standard library and ``jsagent.api`` are imported here.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import pkgutil
import sys
from typing import Any, TextIO

# Subclasses of these bases are components of the kind named; every listener is a "listener".
BASE_KINDS = (("Batchlet", "batchlet"), ("ItemReader", "item-reader"),
              ("ItemProcessor", "item-processor"), ("ItemWriter", "item-writer"),
              ("CheckpointAlgorithm", "checkpoint-algorithm"), ("Decider", "decider"),
              ("PartitionMapper", "partition-mapper"), ("PartitionReducer", "partition-reducer"),
              ("PartitionCollector", "partition-collector"),
              ("PartitionAnalyzer", "partition-analyzer"))
LISTENER_BASES = ("JobListener", "StepListener", "ChunkListener", "ItemReadListener",
                  "ItemProcessListener", "ItemWriteListener", "SkipReadListener",
                  "SkipProcessListener", "SkipWriteListener", "RetryReadListener",
                  "RetryProcessListener", "RetryWriteListener")
# A class registered with @named but of no base class gets its kinds from these methods.
DUCK_METHODS = (("batchlet", ("process",)), ("item-reader", ("read_item",)),
                ("item-processor", ("process_item",)), ("item-writer", ("write_items",)),
                ("checkpoint-algorithm", ("is_ready_to_checkpoint",)), ("decider", ("decide",)),
                ("partition-mapper", ("map_partitions",)),
                ("partition-reducer", ("begin_partitioned_step", "rollback_partitioned_step")),
                ("partition-collector", ("collect_partition_data",)),
                ("partition-analyzer", ("analyze_collector_data", "analyze_status")))
NEVER_IMPORTED = ("setup",)  # top-level modules of a directory that are build scripts
MESSAGE_LIMIT = 500


class Truncated(Exception):
    """The module budget ran out."""


class Report:
    """The JSON-lines stream to the parent."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def send(self, **fields: Any) -> None:
        self.stream.write(json.dumps(fields) + "\n")
        self.stream.flush()


class Scan:
    """One child's walk over the entries of a request."""

    def __init__(self, api: Any, report: Report, request: dict[str, Any]):
        self.api = api
        self.report = report
        self.entries = request["entries"]
        self.skip = {tuple(key) for key in request.get("skip", ())}
        self.done = {tuple(key) for key in request.get("done", ())}
        self.budget = int(request["max_modules"])
        self.visited = 0
        self.kinds = {getattr(api, name): kind for name, kind in BASE_KINDS}
        self.kinds.update((getattr(api, name), "listener") for name in LISTENER_BASES)
        self.duck = DUCK_METHODS + (("listener", _listener_methods(api)),)

    def run(self) -> None:
        # Entries go first on sys.path, in order, as the agent's worker puts them.
        sys.path[:0] = [path for kind, path in self.entries if kind == "tree"]
        try:
            for index, (kind, path) in enumerate(self.entries):
                if kind == "file":
                    self.visit_file(index, path)
                else:
                    self.walk(index, path)
        except Truncated:
            self.report.send(truncated=self.budget)

    def walk(self, index: int, path: str) -> None:
        """Depth first, in name order; a package is imported to list its modules."""
        stack = [self.listing(index, path, [path], "")]
        while stack:
            info = next(stack[-1], None)
            if info is None:
                stack.pop()
                continue
            if info.name in NEVER_IMPORTED:
                continue
            module = self.visit(index, path, info.name, info.ispkg, importlib.import_module)
            if module is not None and info.ispkg:
                inside = [p for p in getattr(module, "__path__", ()) if _within(p, path)]
                stack.append(self.listing(index, path, inside, info.name + "."))

    def listing(self, index: int, path: str, paths: list[str], prefix: str):
        try:
            return iter(list(pkgutil.iter_modules(paths, prefix)))
        except Exception as exc:  # noqa: BLE001 - an unreadable entry is a problem, not a stop
            self.report.send(entry=index, problem=f"cannot list {prefix or path}: {_say(exc)}")
            return iter(())

    def visit_file(self, index: int, path: str) -> None:
        name = os.path.splitext(os.path.basename(path))[0]
        if not name.isidentifier():
            self.report.send(entry=index, problem=f"{name!r} is not a module name")
        elif name in sys.modules:
            self.report.send(entry=index, module=name, components=[], problems=[
                "the name is taken by a module imported before it"])
        else:
            self.visit(index, path, name, False, lambda _: _load_file(name, path))

    def visit(self, index: int, path: str, name: str, ispkg: bool, load) -> Any:
        """Import one module and report it; the module when its package should be walked."""
        if name.rpartition(".")[2] == "__main__" or (index, name) in self.skip:
            return None  # importing a __main__ would run the application
        if self.visited >= self.budget:
            raise Truncated
        self.visited += 1
        if (index, name) in self.done and not ispkg:
            return None
        self.report.send(importing=name, entry=index)
        try:
            module = load(name)
            origin = getattr(getattr(module, "__spec__", None), "origin", None)
            if origin and not _within(origin, path):
                problem = f"imported from {origin}, which shadows it"
                self.report.send(entry=index, module=name, components=[], problems=[problem])
                return None
            components, problems = self.components(module, name)
        except BaseException as exc:  # noqa: BLE001 - SystemExit from an application module too
            self.report.send(entry=index, module=name, components=[], problems=[_say(exc)])
            return None
        self.report.send(entry=index, module=name, components=components, problems=problems)
        return module

    def components(self, module: Any, name: str) -> tuple[list[dict], list[str]]:
        found, problems = [], []
        for attribute, value in list(vars(module).items()):
            if (not isinstance(value, type) or value.__module__ != name
                    or value.__name__ != attribute or inspect.isabstract(value)):
                continue  # aliases and imported classes are reported where they are defined
            ref = self.registered_name(value)
            if attribute.startswith("_") and ref is None:
                continue
            class_name = f"{name}.{attribute}"
            kinds = self.kinds_of(value, named=ref is not None)
            if ref is not None and not kinds:
                problems.append(f"{class_name} is registered as {ref!r} but has no method "
                                f"of a batch artifact")
            found.extend({"kind": kind, "ref": ref or class_name, "class_name": class_name}
                         for kind in kinds)
        return found, problems

    def registered_name(self, cls: type) -> str | None:
        """The @named name of ``cls`` itself (a subclass inherits the attribute, not the name)."""
        name = cls.__dict__.get("artifact_name")
        if isinstance(name, str) and self.api.registered(name) is cls:
            return name
        return None

    def kinds_of(self, cls: type, named: bool) -> list[str]:
        kinds = [kind for base, kind in self.kinds.items() if issubclass(cls, base)]
        if not kinds and named:
            kinds = [kind for kind, methods in self.duck
                     if any(callable(getattr(cls, method, None)) for method in methods)]
        return list(dict.fromkeys(kinds))


def _listener_methods(api: Any) -> tuple[str, ...]:
    return tuple(method for base in LISTENER_BASES for method in vars(getattr(api, base))
                 if not method.startswith("_"))


def _within(path: str, entry: str) -> bool:
    path, entry = os.path.abspath(path), os.path.abspath(entry)
    return path == entry or path.startswith(entry.rstrip(os.sep) + os.sep)


def _load_file(name: str, path: str) -> Any:
    """Import the module file ``path`` as ``name`` without putting its directory on sys.path."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} cannot be loaded as a module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _say(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:MESSAGE_LIMIT]


def _import_api(package_dir: str | None) -> Any:
    """``jsagent.api`` from the environment, else from the bus's own ``jsagent`` directory."""
    try:
        return importlib.import_module("jsagent.api")
    except ImportError:
        if not package_dir:
            raise
    spec = importlib.util.spec_from_file_location(
        "jsagent", os.path.join(package_dir, "__init__.py"),
        submodule_search_locations=[package_dir])
    package = importlib.util.module_from_spec(spec)
    sys.modules["jsagent"] = package
    spec.loader.exec_module(package)
    return importlib.import_module("jsagent.api")


def _claim_stdout() -> TextIO:
    """The stream to the parent; fd 1 (and so ``print``) then goes to stderr."""
    stream = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    return stream


def main(argv: list[str]) -> None:
    report = Report(_claim_stdout())
    try:
        with open(argv[1], encoding="utf-8") as file:
            request = json.load(file)
        Scan(_import_api(request.get("api_package")), report, request).run()
    except BaseException as exc:  # noqa: BLE001 - the parent reads it as a problem
        report.send(problem=f"the scanner's child process failed: {_say(exc)}")
    report.send(done=True)
    # Neither wait for the application's threads nor run its atexit handlers.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
