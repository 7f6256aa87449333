"""Users, memberships and tokens."""
from __future__ import annotations

from datetime import datetime

from peewee import IntegrityError

from jsbus.auth.model import Token, User

from .base import storage_errors


class UserRecords:
    """Mixed into ``PeeweeStorage``."""

    def _user(self, row) -> User:
        memberships: dict[str, list[str]] = {}
        for member in self.statements.select(self.models.Membership, {"user_id": row.user_id},
                                              order="app,role"):
            memberships.setdefault(member.app, []).append(member.role)
        return User(id=row.user_id, password_hash=row.password_hash,
                    memberships={app: tuple(roles) for app, roles in memberships.items()},
                    created_at=row.created_at)

    def _insert_user(self, user: User, now: datetime) -> None:
        self.models.AppUser.insert(user_id=user.id, password_hash=user.password_hash,
                                   created_at=now, updated_at=now).execute()
        self._insert_memberships(user)

    def _insert_memberships(self, user: User) -> None:
        rows = [{"user_id": user.id, "app": app, "role": role}
                for app, roles in user.memberships.items() for role in roles]
        if rows:
            self.models.Membership.insert_many(rows).execute()

    @storage_errors
    def create_user(self, user: User, now: datetime) -> bool:
        try:
            with self.write_transaction():
                self._insert_user(user, now)
            return True
        except IntegrityError:
            return False

    @storage_errors
    def create_first_user(self, user: User, now: datetime) -> bool:
        U = self.models.AppUser
        try:
            with self.write_transaction():
                if not self.sqlite:  # one bootstrap at a time across processes
                    self.db.execute_sql("LOCK TABLE app_user IN EXCLUSIVE MODE")
                if U.select().exists():
                    return False
                self._insert_user(user, now)
            return True
        except IntegrityError:
            return False

    @storage_errors
    def get_user(self, user_id: str) -> User | None:
        row = self.statements.first(self.models.AppUser, user_id=user_id)
        return self._user(row) if row else None

    @storage_errors
    def list_users(self) -> list[User]:
        U = self.models.AppUser
        return [self._user(row) for row in U.select().order_by(U.created_at, U.id)]

    @storage_errors
    def update_user(self, user: User, now: datetime) -> bool:
        U, M = self.models.AppUser, self.models.Membership
        with self.write_transaction():
            if not (U.update(password_hash=user.password_hash, updated_at=now)
                    .where(U.user_id == user.id).execute()):
                return False
            M.delete().where(M.user_id == user.id).execute()
            self._insert_memberships(user)
        return True

    @storage_errors
    def delete_user(self, user_id: str) -> bool:
        m = self.models
        with self.write_transaction():
            m.AuthToken.delete().where(m.AuthToken.user_id == user_id).execute()
            m.Membership.delete().where(m.Membership.user_id == user_id).execute()
            return bool(m.AppUser.delete().where(m.AppUser.user_id == user_id).execute())

    @storage_errors
    def save_token(self, token: Token) -> None:
        self.models.AuthToken.insert(
            digest=token.digest, user_id=token.user_id, created_at=token.created_at,
            expires_at=token.expires_at, max_expires_at=token.max_expires_at).execute()

    @storage_errors
    def get_token(self, digest: str) -> Token | None:
        row = self.statements.first(self.models.AuthToken, digest=digest)
        if row is None:
            return None
        return Token(digest=row.digest, user_id=row.user_id, created_at=row.created_at,
                     expires_at=row.expires_at, max_expires_at=row.max_expires_at,
                     revoked_at=row.revoked_at)

    @storage_errors
    def touch_token(self, digest: str, expires_at: datetime) -> None:
        T = self.models.AuthToken
        T.update(expires_at=expires_at).where(T.digest == digest).execute()

    @storage_errors
    def revoke_token(self, digest: str, now: datetime) -> bool:
        T = self.models.AuthToken
        return bool(T.update(revoked_at=now)
                    .where((T.digest == digest) & T.revoked_at.is_null()).execute())

    @storage_errors
    def purge_tokens(self, now: datetime) -> int:
        T = self.models.AuthToken
        return T.delete().where((T.expires_at < now) | (T.revoked_at < now)).execute()
