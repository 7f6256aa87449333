"""The command line's login to a bus: ``session(bus_url, user, password)`` is an httpx client
that carries a token. Tokens are kept per bus in ``$XDG_CONFIG_HOME/jsbus/tokens.json`` (0600),
so ``jsbus login`` once and later commands need no password until the token expires."""
from __future__ import annotations

import json
import os
from pathlib import Path

import httpx


class LoginError(Exception):
    """No token could be had: what to do about it is in the message."""


def tokens_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "jsbus" / "tokens.json"


def _load() -> dict[str, str]:
    try:
        return json.loads(tokens_file().read_text())
    except (OSError, ValueError):
        return {}


def _store(tokens: dict[str, str]) -> None:
    path = tokens_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(tokens, file)


def login(bus_url: str, user: str, password: str) -> str:
    """Log in, keep the token, return it."""
    response = httpx.post(f"{bus_url.rstrip('/')}/auth", timeout=10.0,
                          json={"user/id": user, "user/password": password})
    if response.status_code != 201:
        try:
            why = "; ".join(response.json().get("messages", []))
        except ValueError:
            why = response.text
        raise LoginError(f"login to {bus_url} as {user} failed: {response.status_code} {why}")
    tokens = _load()
    tokens[bus_url.rstrip("/")] = response.json()["token"]
    _store(tokens)
    return tokens[bus_url.rstrip("/")]


def logout(bus_url: str) -> None:
    tokens = _load()
    token = tokens.pop(bus_url.rstrip("/"), None)
    if token:
        httpx.delete(f"{bus_url.rstrip('/')}/auth", timeout=10.0,
                     headers={"Authorization": f"Token {token}"})
        _store(tokens)


def session(bus_url: str, user: str | None = None, password: str | None = None) -> httpx.Client:
    """A client of ``bus_url`` with a live token: the kept one while it works, else a new
    login with ``user`` and ``password``."""
    token = _load().get(bus_url.rstrip("/"))
    if token and httpx.get(f"{bus_url.rstrip('/')}/account", timeout=10.0, headers={
            "Authorization": f"Token {token}"}).status_code != 200:
        token = None
    if not token:
        if not (user and password):
            raise LoginError(f"not logged in to {bus_url}: give --user and --password (or "
                             "JSBUS_USER and JSBUS_PASSWORD), or run jsbus login")
        token = login(bus_url, user, password)
    return httpx.Client(base_url=bus_url, timeout=10.0,
                        headers={"Authorization": f"Token {token}"})
