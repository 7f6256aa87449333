"""Built-in batchlets of the agent: ``shell``, ``python-main`` and ``java-main``.

Importing this package registers the three under their bare names, so a step can say
``"batchlet": {"ref": "shell", "properties": {...}}``. Like any batchlet they run in the
agent's worker child process, and what they log is the step's log. Property values are
strings; list-valued properties (``command``, ``args``, ``jvm_options``) take either a
shell-rules string (``"-l 'my dir'"``, split with :func:`shlex.split`) or a JSON list of
strings (any value starting with ``[``).

``shell`` (:class:`ShellBatchlet`)
    Runs ``command`` (+ ``args``) in a process group of its own, through ``/bin/sh -c`` only
    when ``shell`` is ``true``; ``env`` (JSON object merged over the environment), ``cwd``,
    ``timeout`` (seconds: the group is terminated and the step fails), ``kill_grace``
    (SIGTERM to SIGKILL, default 5 s), ``fail_on_error``, ``encoding``. Exit status: the exit
    code (``"0"``, ``"3"``; killed by signal N: ``128 + N``); a non-zero code fails the step
    only with ``fail_on_error=true``. Standard output lines are logged at INFO, standard
    error lines at WARNING (logger ``jsagent.batchlets.shell``). A stop terminates the
    process group and the exit status is ``"STOPPED"``.

``python-main`` (:class:`PythonMainBatchlet`)
    ``main`` = ``package.module:function`` calls the function (with the ``args`` list if it
    takes a positional parameter, ``stop_event=`` if it has that parameter); ``main`` =
    ``package.module`` runs the module as ``python -m`` would (``sys.argv`` is
    ``[main, *args]`` in both cases). Exit status: the return value as a string (None:
    ``"COMPLETED"``), or the ``SystemExit`` code as Python's exit code (``sys.exit()`` ->
    ``"0"``, ``sys.exit(4)`` -> ``"4"``, ``sys.exit("message")`` -> ``"1"``). Stopping is
    cooperative, through ``stop_event``.

``java-main`` (:class:`JavaMainBatchlet`)
    Runs ``java -cp <classpath> [jvm_options] <main_class> [args]`` as a child process
    (``classpath``: JSON list or ``os.pathsep``-separated, default ``.``; ``java``: default
    ``$JAVA_HOME/bin/java``, else ``java`` on ``PATH``), with the same ``env``, ``cwd``,
    ``timeout``, ``kill_grace``, ``fail_on_error`` and ``encoding`` as ``shell``. Exit status:
    the JVM's exit code (``System.exit(10)`` -> ``"10"``); output logged as for ``shell``
    (logger ``jsagent.batchlets.java_main``); a stop terminates the JVM's process group.

Each class's docstring lists its properties in full.
"""
from __future__ import annotations

from typing import Any, Callable

try:  # the registry of bare artifact names in jsagent.api
    from jsagent.api import named
except ImportError:  # jsagent.api without ``named`` yet: the classes stay usable by full ref
    def named(name: str) -> Callable[[Any], Any]:
        """Fallback: records the bare name on the class, registers nothing."""
        def mark(cls: Any) -> Any:
            cls.artifact_name = name
            return cls
        return mark

# The submodules import ``named`` from here: it must be defined before they load.
from jsagent.batchlets._process import CommandFailed, CommandTimeout  # noqa: E402
from jsagent.batchlets.java_main import JavaMainBatchlet  # noqa: E402
from jsagent.batchlets.python_main import PythonMainBatchlet  # noqa: E402
from jsagent.batchlets.shell import ShellBatchlet  # noqa: E402

__all__ = ["CommandFailed", "CommandTimeout", "JavaMainBatchlet", "PythonMainBatchlet",
           "ShellBatchlet", "named"]
