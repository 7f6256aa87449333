"""Job XML substitution (JSR-352 8.8) in property values and other attribute values.

``#{jobParameters['x']}``, ``#{jobProperties['x']}``, ``#{systemProperties['x']}`` and
``#{partitionPlan['x']}``, mixed with literal text, each optionally followed by a default
``?:text;`` used when that expression resolves to the empty string (the default may hold
expressions too). A name that is not defined resolves to the empty string; so does a
``jobProperties`` reference to a property defined later in the same scope.
"""
from __future__ import annotations

import getpass
import os
import platform
import re
import sys
from typing import Mapping, Sequence

EXPRESSION = re.compile(
    r"#\{\s*(jobParameters|jobProperties|systemProperties|partitionPlan)\s*\[\s*"
    r"(?:'([^']*)'|\"([^\"]*)\"|([^\]]*?))\s*\]\s*\}")


def system_properties() -> dict[str, str]:
    """What ``systemProperties`` offers: a few platform values, then the environment."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in this environment
        user = ""
    values = {"os.name": platform.system(), "os.version": platform.release(),
              "os.arch": platform.machine(), "file.separator": os.sep,
              "path.separator": os.pathsep, "line.separator": os.linesep,
              "user.dir": os.getcwd(), "user.home": os.path.expanduser("~"), "user.name": user,
              "python.version": platform.python_version(), "python.executable": sys.executable}
    values.update(os.environ)
    return values


class Substitution:
    """Resolves expressions for one scope.

    ``parameters``: the job parameters; ``scopes``: the property dicts that ``jobProperties``
    searches, innermost first; ``plan``: the partition's plan properties (None outside one).
    """

    def __init__(self, parameters: Mapping[str, str], scopes: Sequence[Mapping[str, str]] = (),
                 plan: Mapping[str, str] | None = None,
                 system: Mapping[str, str] | None = None):
        self.parameters = parameters
        self.scopes = list(scopes)
        self.plan = plan
        self.system = system if system is not None else system_properties()

    def inner(self, properties: Mapping[str, str]) -> Substitution:
        """The scope one level in, whose own (resolved) properties are searched first."""
        return Substitution(self.parameters, [properties, *self.scopes], self.plan, self.system)

    def with_plan(self, plan: Mapping[str, str] | None) -> Substitution:
        return Substitution(self.parameters, self.scopes, plan, self.system)

    def lookup(self, operator: str, name: str) -> str:
        if operator == "jobParameters":
            value = self.parameters.get(name)
        elif operator == "jobProperties":
            value = next((scope[name] for scope in self.scopes if name in scope), None)
        elif operator == "systemProperties":
            value = self.system.get(name)
        else:
            value = (self.plan or {}).get(name)
        return "" if value is None else str(value)

    def __call__(self, value: str | None) -> str | None:
        """``value`` with every expression replaced (None stays None)."""
        if value is None or "#{" not in value:
            return value
        out, position = [], 0
        for match in EXPRESSION.finditer(value):
            if match.start() < position:  # inside a default already consumed
                continue
            out.append(value[position:match.start()])
            name = next(group for group in match.groups()[1:] if group is not None)
            resolved = self.lookup(match.group(1), name.strip())
            position = match.end()
            if value.startswith("?:", position):
                end = _default_end(value, position + 2)
                default = value[position + 2:end]
                position = min(end + 1, len(value))
                if resolved == "":
                    resolved = self(default) or ""
            out.append(resolved)
        out.append(value[position:])
        return "".join(out)

    def properties(self, properties: Mapping[str, str]) -> dict[str, str]:
        """Resolve one scope's properties in order: each may use the ones before it."""
        resolved: dict[str, str] = {}
        scope = self.inner(resolved)
        for name, raw in properties.items():
            resolved[name] = scope(str(raw)) or ""
        return resolved


def _default_end(value: str, start: int) -> int:
    """The index of the ``;`` that ends a default starting at ``start`` (skipping the ``;`` of
    nothing inside nested expressions); the end of ``value`` when there is none."""
    index = start
    while index < len(value):
        if value.startswith("#{", index):
            close = value.find("}", index)
            index = len(value) if close < 0 else close + 1
            continue
        if value[index] == ";":
            return index
        index += 1
    return len(value)
