"""The ``shell`` built-in batchlet: runs a command line."""
from __future__ import annotations

import logging
import shlex

from jsagent.batchlets import _props, named
from jsagent.batchlets._process import SubprocessBatchlet

SH = "/bin/sh"


@named("shell")
class ShellBatchlet(SubprocessBatchlet):
    """Runs a command in a process group of its own; its exit code is the exit status.

    Properties (all strings, as in a job document):

    ``command`` (required)
        The program and its arguments: split with shell rules (:func:`shlex.split`), or a
        JSON list of strings when the value starts with ``[`` (``["ls", "-l", "my dir"]``).
        No shell runs unless ``shell`` is true.
    ``args``
        More arguments appended to the command, same two forms.
    ``shell``
        ``true`` to run the command through ``/bin/sh -c`` (pipes, redirections, ``$VAR``,
        ``&&`` ...). The script is ``command`` as written (a JSON list is joined back with
        shell quoting) followed by the shell-quoted ``args``.
    ``env``
        A JSON object of environment variables merged over the worker's environment
        (``{"LANG": "C", "DROP_ME": null}``: a ``null`` value removes a variable; numbers and
        booleans are written as JSON).
    ``cwd``
        The working directory (default: the worker's).
    ``timeout``
        Seconds the command may run. When they pass, the whole process group gets SIGTERM,
        then SIGKILL ``kill_grace`` seconds later, and the step fails with
        ``CommandTimeout: shell: command timed out after N s (...)``.
    ``kill_grace``
        Seconds between SIGTERM and SIGKILL, on a timeout or a stop (default 5).
    ``fail_on_error``
        ``true`` to fail the step (``CommandFailed: shell: command exited with N: ...``) when
        the exit code is not 0. By default a non-zero exit code is only the exit status and
        the job's transitions decide what follows.
    ``encoding``
        Of the command's output (default ``utf-8``; undecodable bytes are replaced).

    Exit status: the exit code as a string (``"0"``, ``"3"``); a command killed by signal N
    gives ``128 + N`` as a shell does. :meth:`stop` terminates the process group (SIGTERM,
    SIGKILL after ``kill_grace``) and ``process()`` returns ``"STOPPED"``.

    Output: each standard output line is logged at INFO and each standard error line at
    WARNING on the logger ``jsagent.batchlets.shell`` as it comes, so it is the step's log.
    Processes the command leaves behind in its process group (``cmd &``) are terminated when
    it exits: a step owns what it started. A program not found, or a bad ``cwd``, fails the
    step (``FileNotFoundError``).
    """

    label = "shell"
    jsagent_restricted = "shell"  # runs only where its application enabled it
    logger = logging.getLogger(__name__)

    command: str | None = None
    args: str | None = None
    shell: str | None = None

    def build_argv(self, env: dict[str, str]) -> list[str]:
        command = _props.text(self, "command")
        if command is None:
            raise ValueError("shell: property 'command' is required")
        args = _props.as_list(_props.text(self, "args"), "shell: property 'args'")
        if _props.as_bool(_props.text(self, "shell"), "shell: property 'shell'"):
            if isinstance(command, str) and not command.lstrip().startswith("["):
                script = command
            else:
                script = shlex.join(_props.as_list(command, "shell: property 'command'"))
            if args:
                script = f"{script} {shlex.join(args)}"
            return [SH, "-c", script]
        argv = _props.as_list(command, "shell: property 'command'") + args
        if not argv:
            raise ValueError("shell: property 'command' is required")
        return argv
