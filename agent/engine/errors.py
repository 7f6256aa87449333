"""Exceptions inside the engine: exit-status texts, and include/exclude class matching for
skippable, retryable and no-rollback exceptions (JSR-352 8.2.1.4)."""
from __future__ import annotations

import traceback

from jsbus.jsl.model import ExceptionClasses

# Class names of Job XML written for Java, mapped to their nearest Python counterpart.
JAVA_NAMES = {"java.lang.Throwable": "BaseException", "java.lang.Exception": "Exception",
              "java.lang.RuntimeException": "Exception", "java.io.IOException": "OSError",
              "java.lang.IllegalArgumentException": "ValueError",
              "java.lang.IllegalStateException": "RuntimeError",
              "java.lang.NullPointerException": "AttributeError",
              "java.lang.ArithmeticException": "ArithmeticError"}


class StepFailure(Exception):
    """A failure the engine itself detects (an unknown element, a start limit...)."""


def exit_status_of(exc: BaseException) -> str:
    """``"<ExceptionType>: <message>"``; ``"SystemExit: <code>"`` for ``sys.exit``; the
    message alone for the engine's own StepFailure."""
    if isinstance(exc, StepFailure):
        return str(exc)
    if isinstance(exc, SystemExit):
        return f"SystemExit: {exc.code}"
    return f"{type(exc).__name__}: {exc}"


def traceback_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)).rstrip("\n")


def _distance(exc: BaseException, name: str) -> int | None:
    """How far up ``exc``'s class hierarchy ``name`` is (0: its own class), or None."""
    name = JAVA_NAMES.get(name, name)
    for depth, cls in enumerate(type(exc).__mro__):
        qualified = f"{cls.__module__}.{cls.__qualname__}"
        if name in (cls.__name__, cls.__qualname__, qualified):
            return depth
    return None


def matches(exc: BaseException, classes: ExceptionClasses) -> bool:
    """Whether ``exc`` is included: the nearest matching class decides, and an exclude wins
    over an include of the same class (a name may be bare or ``module.Class``)."""
    includes = [d for d in (_distance(exc, n) for n in classes.include) if d is not None]
    if not includes:
        return False
    excludes = [d for d in (_distance(exc, n) for n in classes.exclude) if d is not None]
    return not excludes or min(includes) < min(excludes)
