"""Logins and tokens: ``Auth(config, storage)`` is what the API's middleware and the auth
resources ask. Tokens are random (256 bits), stored only as SHA-256 digests, expire after
``bus.token_idle`` seconds without use (sliding) and never later than ``bus.token_max_age``
seconds after the login; a logout, or deleting the user, revokes them."""
from __future__ import annotations

import hashlib
import secrets
import sys
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Callable

from jsbus.auth.model import ALL_APPS, Token, User
from jsbus.auth.passwords import hash_password, verify_password
from jsbus.model import utcnow

SLIDE_STEP = timedelta(seconds=60)  # a token's expiry is written at most once a minute


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Auth:
    def __init__(self, config, storage, clock: Callable[[], datetime] = utcnow):
        self.storage, self.clock = storage, clock
        self.cost = int(config.get("bus.password_cost"))
        self.idle = timedelta(seconds=float(config.get("bus.token_idle")))
        self.max_age = timedelta(seconds=float(config.get("bus.token_max_age")))
        self._decoy: str | None = None
        # digest -> (monotonic time it was read, its token, its user): what authenticate read
        # is trusted this long (``bus.auth_cache``); changes made through this process forget
        # it at once, those made through another bus process are seen within this time.
        self.cache_seconds = float(config.get("bus.auth_cache"))
        self._seen: dict[str, tuple[float, Token, User]] = {}
        self._seen_lock = threading.Lock()

    def hash(self, password: str) -> str:
        return hash_password(password, self.cost)

    def bootstrap(self, password: str = "") -> bool:
        """Create the first user, ``admin``, when there are no users: with ``password`` when
        given (``JSBUS_ADMIN_PASSWORD``), else a random one printed once on stderr. True when
        this call created it."""
        generated = not password
        password = password or secrets.token_urlsafe(12)
        admin = User(id="admin", password_hash=self.hash(password),
                     memberships={ALL_APPS: ("admin",)})
        if not self.storage.create_first_user(admin, self.clock()):
            return False
        if generated:
            print(f"jsbus: created user 'admin' with password {password}\n"
                  "jsbus: it is shown this once; log in (POST /auth) and keep it safe, or set "
                  "JSBUS_ADMIN_PASSWORD before the first start", file=sys.stderr, flush=True)
        else:
            print("jsbus: created user 'admin' with the password of JSBUS_ADMIN_PASSWORD",
                  file=sys.stderr, flush=True)
        return True

    def check_password(self, user_id: str, password: str) -> User | None:
        """The user when the password is theirs. An unknown user costs the same time."""
        user = self.storage.get_user(user_id)
        if user is None:
            self._decoy = self._decoy or self.hash("decoy")
            verify_password(password, self._decoy)
            return None
        return user if verify_password(password, user.password_hash) else None

    def issue(self, user: User) -> str:
        token, now = secrets.token_urlsafe(32), self.clock()
        self.storage.save_token(Token(digest=digest(token), user_id=user.id, created_at=now,
                                      expires_at=min(now + self.idle, now + self.max_age),
                                      max_expires_at=now + self.max_age))
        return token

    def authenticate(self, token: str) -> User | None:
        """The user of a live token (sliding its expiry), or None."""
        if not token or len(token) > 256:
            return None
        key, now = digest(token), self.clock()
        seen = self._seen.get(key)
        if seen is not None and time.monotonic() - seen[0] < self.cache_seconds:
            _, found, user = seen
        else:
            found = self.storage.get_token(key)
            if found is None or found.revoked_at is not None:
                return None
            user = self.storage.get_user(found.user_id)
            if user is None:
                return None
            if self.cache_seconds > 0:
                self._remember(key, found, user)
        if found.expires_at <= now:
            return None
        slid = min(now + self.idle, found.max_expires_at)
        if slid - found.expires_at >= SLIDE_STEP:
            self.storage.touch_token(key, slid)
            with self._seen_lock:
                if key in self._seen:
                    self._seen[key] = (self._seen[key][0], replace(found, expires_at=slid), user)
        return user

    def _remember(self, key: str, found: Token, user: User) -> None:
        with self._seen_lock:
            if len(self._seen) >= 10_000:  # bounded: the oldest half goes
                for old in sorted(self._seen, key=lambda k: self._seen[k][0])[:5_000]:
                    del self._seen[old]
            self._seen[key] = (time.monotonic(), found, user)

    def forget(self) -> None:
        """Read every token and user afresh (a user, a role or a token changed)."""
        with self._seen_lock:
            self._seen.clear()

    def revoke(self, token: str) -> bool:
        self.forget()
        return bool(token) and self.storage.revoke_token(digest(token), self.clock())
