"""``/auth``, ``/account``, ``/users`` and ``/user``: logins and users, in the original's shapes
and with its validation messages (``"id must be present"``, ``"Authentication failure."``,
``"Username must be at least 3 characters long."``...). Managing users needs the admin's
``manage-users`` (the original left these routes open)."""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import falcon

from jsbus.api.media import read_object
from jsbus.auth.middleware import COOKIE, bearer
from jsbus.auth.model import ALL_APPS, User
from jsbus.auth.permissions import ROLES, permissions_of
from jsbus.errors import Conflict, NotFound, ValidationError

NAME = re.compile(r"^[\w\-]+$")
MAX_PASSWORD = 1024


class UserNotFound(NotFound):
    kind = "user"


def user_view(user: User) -> dict[str, Any]:
    return {"user/id": user.id,
            "user/memberships": {app: list(roles) for app, roles in user.memberships.items()}}


def _credentials(body: dict) -> tuple[str, str]:
    user_id, password = body.get("user/id"), body.get("user/password")
    messages = []
    if not isinstance(user_id, str) or not user_id:
        messages.append("id must be present")
    elif not NAME.fullmatch(user_id):
        messages.append("id must match ^[\\w\\-]+$")
    if not isinstance(password, str) or not password:
        messages.append("password must be present")
    elif len(password) > MAX_PASSWORD:
        messages.append(f"password must be at most {MAX_PASSWORD} characters")
    if messages:
        raise ValidationError(messages)
    return user_id, password


class AuthResource:
    """``POST /auth`` logs in: ``201 {"token": ...}`` and the session cookie. ``DELETE /auth``
    revokes the token presented (header or cookie) and clears the cookie."""

    def __init__(self, bus):
        self.bus = bus

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        user_id, password = _credentials(read_object(req, self.bus.config.get(
            "bus.max_body_bytes")))
        user = self.bus.auth.check_password(user_id, password)
        if user is None:
            raise falcon.HTTPUnauthorized(description="Authentication failure.",
                                          challenges=['Token realm="jsbus"'])
        token = self.bus.auth.issue(user)
        resp.status = falcon.HTTP_201
        resp.media = {"token": token}
        resp.set_cookie(COOKIE, token, max_age=int(self.bus.auth.max_age.total_seconds()),
                        path="/", secure=req.scheme == "https", http_only=True,
                        same_site="Lax")

    def on_delete(self, req: falcon.Request, resp: falcon.Response) -> None:
        cookies = req.get_cookie_values(COOKIE) or []
        for token in {bearer(req), *cookies} - {None}:
            self.bus.auth.revoke(token)
        resp.unset_cookie(COOKIE, path="/")
        resp.status = falcon.HTTP_204


class AccountResource:
    def __init__(self, bus):
        self.bus = bus

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        user = req.context.user
        resp.media = {"user/id": user.id, "applications": {
            app: {"application/name": app, "roles": list(roles),
                  "permissions": sorted(permissions_of(user.memberships, app))}
            for app, roles in user.memberships.items()}}


def _memberships(body: dict, messages: list[str]) -> dict[str, tuple[str, ...]] | None:
    """``user/memberships`` (``{app: [roles]}``), or the original's ``role`` (in
    ``application``, default every application); None when the body names neither."""
    if "user/memberships" in body:
        given = body["user/memberships"]
        if not isinstance(given, dict) or not all(
                isinstance(app, str) and isinstance(roles, list)
                and all(isinstance(role, str) for role in roles) for app, roles in given.items()):
            messages.append("user/memberships must map applications to lists of roles")
            return None
        memberships = {app: tuple(dict.fromkeys(roles)) for app, roles in given.items()}
    elif "role" in body:
        application = body.get("application", ALL_APPS)
        if not isinstance(application, str) or not application:
            messages.append("application must be an application's name, or * for all")
            return None
        memberships = {application: (body["role"],)}
    else:
        return None
    unknown = sorted({role for roles in memberships.values() for role in roles
                      if not isinstance(role, str) or role not in ROLES})
    if unknown:
        messages.append("role is used by someone.")  # the original's text, kept for its tests
        messages.append(f"role must be one of {', '.join(ROLES)}, not {', '.join(unknown)}")
    return memberships


def _password(body: dict, messages: list[str], required: bool) -> str | None:
    password = body.get("user/password")
    if password is None:
        if required:
            messages.append("password must be present")
        return None
    if not isinstance(password, str) or len(password) < 8:
        messages.append("Password must be at least 8 characters long.")
    elif len(password) > MAX_PASSWORD:
        messages.append(f"password must be at most {MAX_PASSWORD} characters")
    return password


class UsersResource:
    """``GET /users``; ``POST /user`` (suffix ``new``: the original's two paths)."""

    def __init__(self, bus):
        self.bus = bus

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = [user_view(user) for user in self.bus.storage.list_users()]

    def on_post_new(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_object(req, self.bus.config.get("bus.max_body_bytes"))
        messages: list[str] = []
        user_id = body.get("user/id")
        if not isinstance(user_id, str) or not user_id:
            messages.append("id must be present")
        elif len(user_id) < 3:
            messages.append("Username must be at least 3 characters long.")
        elif len(user_id) > 20:
            messages.append("Username is too long.")
        elif not NAME.fullmatch(user_id):
            messages.append("id must match ^[\\w\\-]+$")
        password = _password(body, messages, required=True)
        memberships = _memberships(body, messages)
        if memberships is None and not any(m.startswith(("role", "user/memberships"))
                                           for m in messages):
            messages.append("role must be present")
        if not messages and self.bus.storage.get_user(user_id) is not None:
            messages.append("id is used by someone.")
        if messages:
            raise ValidationError(messages)
        user = User(id=user_id, password_hash=self.bus.auth.hash(password),
                    memberships=memberships)
        if not self.bus.storage.create_user(user, self.bus.auth.clock()):
            raise ValidationError("id is used by someone.")
        resp.status = falcon.HTTP_201
        resp.location = f"/user/{user_id}"
        resp.media = user_view(user)


class UserResource:
    def __init__(self, bus):
        self.bus = bus

    def _get(self, user_id: str) -> User:
        user = self.bus.storage.get_user(user_id)
        if user is None:
            raise UserNotFound(user_id)
        return user

    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        resp.media = user_view(self._get(user_id))

    def on_put(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        """A new password and/or memberships; what the body leaves out stays."""
        user = self._get(user_id)
        body = read_object(req, self.bus.config.get("bus.max_body_bytes"))
        messages: list[str] = []
        password = _password(body, messages, required=False)
        memberships = _memberships(body, messages)
        if messages:
            raise ValidationError(messages)
        changed = replace(user, password_hash=(self.bus.auth.hash(password) if password
                                               else user.password_hash),
                          memberships=user.memberships if memberships is None else memberships)
        self._keep_an_admin(user, changed)
        self.bus.storage.update_user(changed, self.bus.auth.clock())
        self.bus.auth.forget()
        resp.media = user_view(changed)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        user = self._get(user_id)
        self._keep_an_admin(user, None)
        self.bus.storage.delete_user(user_id)
        self.bus.auth.forget()
        resp.status = falcon.HTTP_204

    def _keep_an_admin(self, before: User, after: User | None) -> None:
        """Refuse (409) to leave no user able to manage users."""
        def manages(user: User | None) -> bool:
            return user is not None and "manage-users" in permissions_of(user.memberships,
                                                                         ALL_APPS)
        if manages(before) and not manages(after) and not any(
                manages(other) for other in self.bus.storage.list_users()
                if other.id != before.id):
            raise Conflict(f"{before.id} is the last user who can manage users")
