"""HTTP to a bus under test as its administrator: ``api.get(url)`` is ``httpx.get(url)`` with
the admin's token, which the first call to a bus logs in for (the bus processes of the tests
start with ``JSBUS_ADMIN_PASSWORD`` set to ``ADMIN_PASSWORD``, see ``jsbus.launch``)."""
from __future__ import annotations

from typing import Any

import httpx

ADMIN_PASSWORD = "e2e-admin-password"
_tokens: dict[str, str] = {}


def base_of(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}:{parsed.port}"


def token(url: str) -> str | None:
    """The admin's token on the bus at ``url`` (logged in once per bus)."""
    base = base_of(url)
    if base not in _tokens:
        response = httpx.post(f"{base}/auth", json={"user/id": "admin",
                                                   "user/password": ADMIN_PASSWORD},
                              timeout=10)
        if response.status_code != 201:
            return None
        _tokens[base] = response.json()["token"]
    return _tokens[base]


def request(method: str, url: str, **kwargs: Any) -> httpx.Response:
    headers = dict(kwargs.pop("headers", None) or {})
    kwargs.setdefault("timeout", 10)
    if any(key.lower() == "authorization" for key in headers):
        return httpx.request(method, url, headers=headers, **kwargs)
    for attempt in range(2):  # a kept token may belong to an earlier bus on the same port
        current = token(url)
        if current:
            headers["Authorization"] = f"Token {current}"
        response = httpx.request(method, url, headers=headers, **kwargs)
        if response.status_code != 401 or not current or attempt:
            return response
        _tokens.pop(base_of(url), None)
    return response


def get(url: str, **kwargs: Any) -> httpx.Response:
    return request("GET", url, **kwargs)


def post(url: str, **kwargs: Any) -> httpx.Response:
    return request("POST", url, **kwargs)


def put(url: str, **kwargs: Any) -> httpx.Response:
    return request("PUT", url, **kwargs)


def delete(url: str, **kwargs: Any) -> httpx.Response:
    return request("DELETE", url, **kwargs)
