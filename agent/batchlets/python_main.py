"""The ``python-main`` built-in batchlet: calls a Python function or runs a module as
``python -m`` would, inside the worker."""
from __future__ import annotations

import importlib
import inspect
import logging
import runpy
import sys
import threading
from typing import Any, Callable

from jsagent.api import Batchlet
from jsagent.batchlets import _props, named

log = logging.getLogger(__name__)


def resolve_function(module_name: str, attr_path: str) -> Callable[..., Any]:
    """The callable ``module_name:attr.path``."""
    target: Any = importlib.import_module(module_name)
    for part in attr_path.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"python-main: {module_name}:{attr_path} is not callable")
    return target


def call_arguments(function: Callable[..., Any], argv: list[str],
                   stop_event: threading.Event) -> tuple[list[Any], dict[str, Any]]:
    """How to call ``function``: ``argv`` as its first positional parameter if it has one,
    ``stop_event=`` if it names such a parameter."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # no signature (some builtins): call with nothing
        return [], {}
    positional = [p for p in parameters if p.name != "stop_event" and p.kind in (
        p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    wants_stop = any(p.name == "stop_event" and p.kind in (p.POSITIONAL_OR_KEYWORD,
                                                           p.KEYWORD_ONLY) for p in parameters)
    return ([argv] if positional else []), ({"stop_event": stop_event} if wants_stop else {})


def exit_status_of_system_exit(code: Any) -> str:
    """``SystemExit``'s code as Python's own exit code: None -> ``"0"``, an int n -> ``"n"``,
    anything else (``sys.exit("message")``) is logged at ERROR and gives ``"1"``."""
    if code is None:
        return "0"
    if isinstance(code, int):
        return str(int(code))
    log.error("%s", code)
    return "1"


@named("python-main")
class PythonMainBatchlet(Batchlet):
    """Calls a Python function, or runs a module as ``python -m`` does, in the worker process.

    Properties:

    ``main`` (required)
        ``package.module:function`` (a dotted path after the colon is allowed,
        ``pkg.mod:Class.method``) to call that function, or ``package.module`` (no colon) to
        run the module with :func:`runpy.run_module` as ``__main__`` (a package runs its
        ``__main__`` submodule), as ``python -m package.module`` would. Modules are imported
        from the application's classpath (the worker's ``sys.path``).
    ``args``
        Arguments: a shell-rules string (:func:`shlex.split`) or a JSON list of strings. A
        function that takes a positional parameter gets them as a list in its first one
        (``def main(argv)``); one that takes none is called with no arguments. In both modes
        ``sys.argv`` is ``[main, *args]`` while it runs (restored afterwards), so argparse
        with no explicit argv works too.

    Exit status:

    * the function's return value converted with ``str()``; None gives ``"COMPLETED"``
      (``"STOPPED"`` if :meth:`stop` was called meanwhile);
    * a module that runs to its end gives ``"COMPLETED"`` (``"STOPPED"`` after a stop);
    * ``SystemExit`` (``sys.exit``) follows Python's exit codes: ``sys.exit()`` and
      ``sys.exit(0)`` give ``"0"``, ``sys.exit(n)`` gives ``str(n)``, and
      ``sys.exit("message")`` logs the message at ERROR and gives ``"1"``;
    * any other exception fails the step.

    Stopping is cooperative (a Python function cannot be killed from outside): :meth:`stop`
    sets a :class:`threading.Event` that is passed as ``stop_event=`` to a function that
    has a parameter of that name; the function should return soon after it is set.
    ``print()`` output and ``logging`` records are the step's log, as for any batchlet.
    """

    main: str | None = None
    args: str | None = None

    def __init__(self) -> None:
        self._stop_event = threading.Event()

    @property
    def stop_requested(self) -> bool:
        return self._stop_event.is_set()

    def stop(self) -> None:
        """Set the ``stop_event`` (see the class docstring)."""
        self._stop_event.set()

    def process(self) -> str:
        main = _props.text(self, "main")
        if main is None:
            raise ValueError("python-main: property 'main' is required")
        main = str(main).strip()
        argv = _props.as_list(_props.text(self, "args"), "python-main: property 'args'")
        module_name, colon, attr_path = main.partition(":")
        if not module_name or (colon and not attr_path):
            raise ValueError(f"python-main: property 'main' must be 'package.module:function' "
                             f"or 'package.module', not {main!r}")
        if self._stop_event.is_set():
            return "STOPPED"
        saved_argv = list(getattr(sys, "argv", []))
        sys.argv = [main, *argv]
        try:
            if colon:
                function = resolve_function(module_name, attr_path)
                positional, keywords = call_arguments(function, argv, self._stop_event)
                result = function(*positional, **keywords)
            else:
                runpy.run_module(module_name, run_name="__main__", alter_sys=True)
                result = None
        except SystemExit as exc:
            return exit_status_of_system_exit(exc.code)
        finally:
            sys.argv = saved_argv
        if result is None:
            return "STOPPED" if self._stop_event.is_set() else "COMPLETED"
        return str(result)
