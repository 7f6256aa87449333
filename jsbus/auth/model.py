"""Plain data of users, their roles per application, and their tokens."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

ALL_APPS = "*"  # a membership in every application (and in what belongs to none)


@dataclass(frozen=True)
class User:
    id: str
    password_hash: str
    memberships: dict[str, tuple[str, ...]] = field(default_factory=dict)  # app -> roles
    created_at: datetime | None = None


@dataclass(frozen=True)
class Token:
    """A login. Only ``digest`` (SHA-256 of the token) is stored, never the token."""

    digest: str
    user_id: str
    created_at: datetime
    expires_at: datetime  # slides forward on use ...
    max_expires_at: datetime  # ... never past this
    revoked_at: datetime | None = None
