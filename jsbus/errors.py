"""The error tree. The API maps these to HTTP in one place (``jsbus.api.errors``)."""
from __future__ import annotations


class JsbusError(Exception):
    """Root of every error jsbus raises on purpose."""


class ConfigurationError(JsbusError):
    """Bad configuration or plugin set-up; raised at start-up."""


class StorageError(JsbusError):
    """The storage backend failed (not a missing row: see NotFound)."""


class TransportError(JsbusError):
    """A message between bus and agent could not be delivered.

    ``busy`` is True when the agent answered that it is at capacity: try another agent.
    """

    busy = False


class ValidationError(JsbusError):
    """Input that breaks a rule; ``messages`` name each field."""

    def __init__(self, messages: list[str] | str):
        self.messages = [messages] if isinstance(messages, str) else list(messages)
        super().__init__("; ".join(self.messages))


class PayloadTooLarge(ValidationError):
    """Input over a configured size limit (HTTP 413)."""


class JobDefinitionError(ValidationError):
    """A job document that is not a valid job."""


class Conflict(JsbusError):
    """The request is valid but the state forbids it now (HTTP 409): restarting a completed
    execution, abandoning a running one..."""


class NotFound(JsbusError, LookupError):
    """A lookup that found nothing; carries what was looked for."""

    kind = "resource"

    def __init__(self, key: object):
        self.key = key
        super().__init__(f"{self.kind} {key!r} not found")


class ApplicationNotFound(NotFound):
    kind = "application"


class JobNotFound(NotFound):
    kind = "job"


class ExecutionNotFound(NotFound):
    kind = "execution"


class AgentNotFound(NotFound):
    kind = "agent"


class CalendarNotFound(NotFound):
    kind = "calendar"


class ScheduleNotFound(NotFound):
    kind = "schedule"


class NotificationNotFound(NotFound):
    kind = "status notification"


class NotificationError(JsbusError):
    """A notification could not be delivered; ``permanent`` when trying again cannot help
    (the receiver refused it, or no receiver is configured)."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


class TestExecutionNotFound(NotFound):
    kind = "test execution"
    __test__ = False  # not a pytest test class
