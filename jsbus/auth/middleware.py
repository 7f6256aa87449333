"""Every request's credentials and permission, checked once, after routing and before the
resource (``jsbus.auth.permissions.ROUTES`` says what each route needs).

Credentials: ``Authorization: Token <t>`` (the original's) or ``Bearer <t>``, else the session
cookie that ``POST /auth`` sets. A request that changes state on the strength of the cookie
alone must come from an allowed origin (``bus.cors_origins``, or the bus's own): a page of
another site cannot make a logged-in browser act (cross-site request forgery).
"""
from __future__ import annotations

from urllib.parse import urlsplit

import falcon

from jsbus.auth.permissions import AGENT, PUBLIC, ROUTES, SIGNED_IN, Rule, allowed, rule_for

COOKIE = "jsbus-session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def bearer(req: falcon.Request) -> str | None:
    """The token of the ``Authorization`` header, if it has one."""
    header = req.get_header("Authorization") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("token", "bearer") and value.strip():
        return value.strip()
    return None


def _unauthorized(message: str = "Unauthorized") -> falcon.HTTPUnauthorized:
    return falcon.HTTPUnauthorized(description=message, challenges=['Token realm="jsbus"'])


class AuthMiddleware:
    def __init__(self, auth, allowed_origins: list[str]):
        self.auth = auth
        self.origins = {origin.rstrip("/") for origin in allowed_origins}

    def process_resource(self, req: falcon.Request, resp: falcon.Response, resource,
                         params) -> None:
        if resource is None or req.method == "OPTIONS":
            return  # 404 and 405 follow; CORS preflights carry no credentials
        rule = rule_for(req.uri_template, req.method)
        req.context.user = None
        if rule in (PUBLIC, AGENT):
            return
        if rule is None:
            methods = ROUTES.get(req.uri_template or "")
            if methods:  # a method the route does not have
                raise falcon.HTTPMethodNotAllowed([*methods, "OPTIONS"])
            raise falcon.HTTPForbidden(description=f"no permission rule for {req.method} "
                                                   f"{req.uri_template}")
        token, by_cookie = bearer(req), False
        if token is None:
            token, by_cookie = req.get_cookie_values(COOKIE) and req.get_cookie_values(
                COOKIE)[0], True
        user = self.auth.authenticate(token) if token else None
        if user is None:
            raise _unauthorized("Unauthorized" if not token else
                                "Unauthorized: the token is unknown, expired or revoked")
        if by_cookie and req.method not in SAFE_METHODS:
            self._check_origin(req)
        req.context.user = user
        req.context.token = token
        if rule == SIGNED_IN:
            return
        assert isinstance(rule, Rule)
        app = params.get("app", params.get("name") if rule.scope == "app" else None)
        if not allowed(user.memberships, rule, app):
            raise falcon.HTTPForbidden(
                description=f"Permission denied: {rule.permission} is needed"
                            + (f" in application {app}" if rule.scope == "app" and app else ""))

    def _check_origin(self, req: falcon.Request) -> None:
        origin = req.get_header("Origin") or ""
        if not origin and req.referer:
            parts = urlsplit(req.referer)
            origin = f"{parts.scheme}://{parts.netloc}"
        own = f"{req.scheme}://{req.host}" + (f":{req.port}" if req.port else "")
        if origin.rstrip("/") not in self.origins | {own, own.replace(f":{req.port}", "")}:
            raise falcon.HTTPForbidden(
                description="cross-site request refused: a request that changes state with "
                            "the session cookie must come from an allowed origin "
                            "(bus.cors_origins) or send an Authorization header")
