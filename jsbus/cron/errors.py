"""The error a bad cron expression raises: a ValidationError, so the API answers 400."""
from __future__ import annotations

from jsbus.errors import ValidationError

PREFIX = "schedule/cron-notation"


class CronError(ValidationError):
    """A Quartz expression that is not valid; the message names the field and the reason."""

    def __init__(self, reason: str, field: str | None = None):
        self.field = field
        self.reason = reason
        where = f"{PREFIX}: {field}: " if field else f"{PREFIX}: "
        super().__init__(where + reason)
