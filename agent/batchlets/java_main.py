"""The ``java-main`` built-in batchlet: runs a Java class's ``main`` in a JVM of its own."""
from __future__ import annotations

import logging
import os
import shutil

from jsagent.batchlets import _props, named
from jsagent.batchlets._process import SubprocessBatchlet


@named("java-main")
class JavaMainBatchlet(SubprocessBatchlet):
    """Runs ``java -cp <classpath> [jvm_options] <main_class> [args]`` as a child process.

    Properties:

    ``main_class`` (required)
        The fully qualified class whose ``public static void main(String[])`` runs.
    ``classpath``
        Classpath entries: a JSON list, or one string separated by ``os.pathsep`` (``:``).
        In a JSON list, ``file:`` URLs are turned into paths (other URLs are refused);
        ``lib/*`` is passed on for java to expand.
        Default: the jars and directories of the application's classpath (the worker puts
        them in ``JSAGENT_JAVA_CLASSPATH``), else ``.``, the java process's working directory.
    ``args``
        Arguments of ``main``: a shell-rules string (:func:`shlex.split`) or a JSON list.
    ``jvm_options``
        Options for the JVM before the class name (``-Xmx256m -Dkey=value``), same two forms.
    ``java``
        The java executable. Default: ``$JAVA_HOME/bin/java`` when ``JAVA_HOME`` is set (in
        the worker's environment or ``env``), else ``java`` on ``PATH``.
    ``env``, ``cwd``, ``timeout``, ``kill_grace``, ``fail_on_error``, ``encoding``
        As for the ``shell`` batchlet (:class:`~jsagent.batchlets.shell.ShellBatchlet`).

    Exit status: the JVM's exit code as a string (``System.exit(10)`` gives ``"10"``, a
    normal end of ``main`` gives ``"0"``, an uncaught exception gives ``"1"``); a JVM killed
    by signal N gives ``128 + N``. :meth:`stop` terminates the JVM's process group (SIGTERM
    runs its shutdown hooks; SIGKILL after ``kill_grace``) and ``process()`` returns
    ``"STOPPED"``. Standard output lines are logged at INFO and standard error lines at
    WARNING on the logger ``jsagent.batchlets.java_main``.
    """

    label = "java-main"
    jsagent_restricted = "java-main"  # runs only where its application enabled it
    logger = logging.getLogger(__name__)

    main_class: str | None = None
    classpath: str | None = None
    args: str | None = None
    jvm_options: str | None = None
    java: str | None = None

    def build_argv(self, env: dict[str, str]) -> list[str]:
        main_class = _props.text(self, "main_class")
        if main_class is None:
            raise ValueError("java-main: property 'main_class' is required")
        main_class = str(main_class).strip()
        classpath = (_props.as_paths(_props.text(self, "classpath"), os.pathsep,
                                     "java-main: property 'classpath'")
                     or [p for p in os.environ.get("JSAGENT_JAVA_CLASSPATH", "").split(os.pathsep)
                         if p]
                     or ["."])
        options = _props.as_list(_props.text(self, "jvm_options"),
                                 "java-main: property 'jvm_options'")
        args = _props.as_list(_props.text(self, "args"), "java-main: property 'args'")
        return [self._java_executable(env), "-cp", os.pathsep.join(classpath), *options,
                main_class, *args]

    def _java_executable(self, env: dict[str, str]) -> str:
        explicit = _props.text(self, "java")
        if explicit is not None:
            return str(explicit)
        home = env.get("JAVA_HOME")
        if home:
            candidate = os.path.join(home, "bin", "java")
            if os.access(candidate, os.X_OK):
                return candidate
            self.logger.warning("java-main: JAVA_HOME=%s has no bin/java; looking on PATH", home)
        found = shutil.which("java", path=env.get("PATH", os.defpath))
        if found is None:
            raise FileNotFoundError("java-main: no java executable: set the property 'java', "
                                    "JAVA_HOME or PATH")
        return found
