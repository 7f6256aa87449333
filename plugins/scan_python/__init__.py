"""Built-in batch-component scanner for Python classpath entries (scanner name ``python``).

Reads directories (their top-level modules and packages, walked to the bottom), ``.whl`` and
``.zip`` archives (importable as they are, with zipimport, when pure Python) and single ``.py``
files (that module alone, not its neighbours); other entries are left to other scanners.

The modules are imported in a separate, isolated interpreter with time limits, never in the
bus (see ``isolation``). A module's components are the classes it defines (bound to a
module-level name equal to the class's own name) that

* subclass a ``jsagent.api`` base: ``Batchlet`` -> ``batchlet``, ``ItemReader`` ->
  ``item-reader``, ... ``PartitionAnalyzer`` -> ``partition-analyzer``, every listener
  interface -> ``listener`` (a class of several bases is listed once per kind), or
* are registered with ``@jsagent.api.named``; such a class of no base gets its kinds from its
  methods (``process`` -> ``batchlet``, ``read_item`` -> ``item-reader``, ...).

Not found: abstract classes, the bases themselves, classes whose name starts with ``_``
(unless registered with ``@named``), nested classes, factory functions registered with
``@named``, and duck-typed classes that are not registered: the methods of a plain class are
too weak a sign that it is meant as an artifact, although the worker would run it.

``ref`` is the ``@named`` name, else ``module.Class``: the two forms a job document's ``ref``
resolves (``jsagent.engine.refs.resolve_ref``). Importing is skipped for ``__main__`` modules
and for a ``setup`` module at the top of a directory, which would run a program.
"""
from __future__ import annotations

from jsbus.backends import ComponentScanner, ScanResult
from jsbus.errors import JsbusError
from jsbus.hookspecs import hookimpl
from jsbus_plugins.scan_python.isolation import scan_entries


def scan(entries, config) -> ScanResult:
    """The Python batch components of ``entries``; problems are reported, never raised."""
    try:
        timeout = float(config.get("apps.scan_timeout")) if config is not None else None
    except (JsbusError, TypeError, ValueError):  # a config without the key: the default
        timeout = None
    try:
        return scan_entries(entries, timeout=timeout) if timeout else scan_entries(entries)
    except Exception as exc:  # noqa: BLE001 - a scanner reports, it does not fail the bus
        return ScanResult(problems=(f"the python scanner failed: {type(exc).__name__}: {exc}",))


@hookimpl
def jsbus_register_scanners(config):
    return [ComponentScanner(name="python", scan=scan)]
