"""The part of the storage interface that keeps users, their memberships and their tokens.
``jsbus.storage.Storage`` includes it; the rules of that module hold here too."""
from __future__ import annotations

import abc
from datetime import datetime

from jsbus.auth.model import Token, User


class UserStorage(abc.ABC):
    @abc.abstractmethod
    def create_user(self, user: User, now: datetime) -> bool:
        """Store a new user with its memberships; False when the id is taken."""

    @abc.abstractmethod
    def create_first_user(self, user: User, now: datetime) -> bool:
        """Store ``user`` only if there are no users at all (atomic across processes)."""

    @abc.abstractmethod
    def get_user(self, user_id: str) -> User | None: ...

    @abc.abstractmethod
    def list_users(self) -> list[User]: ...

    @abc.abstractmethod
    def update_user(self, user: User, now: datetime) -> bool:
        """Replace the password hash and memberships; False when there is no such user."""

    @abc.abstractmethod
    def delete_user(self, user_id: str) -> bool:
        """Delete the user, its memberships and its tokens; False when there was none."""

    @abc.abstractmethod
    def save_token(self, token: Token) -> None: ...

    @abc.abstractmethod
    def get_token(self, digest: str) -> Token | None: ...

    @abc.abstractmethod
    def touch_token(self, digest: str, expires_at: datetime) -> None:
        """Slide the token's expiry (the caller keeps it under ``max_expires_at``)."""

    @abc.abstractmethod
    def revoke_token(self, digest: str, now: datetime) -> bool: ...

    @abc.abstractmethod
    def purge_tokens(self, now: datetime) -> int:
        """Delete tokens expired or revoked before ``now``; returns how many."""
