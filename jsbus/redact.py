"""Secrets out of what is logged or answered: ``redact_url`` hides a URL's password
(``postgresql://jsbus:***@db/jsbus``), ``redact_text`` every URL password in a message (a
driver's exception may quote its connection string)."""
from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit

MASK = "***"
# Query parameters of database URLs that carry a secret.
SECRET_PARAMS = frozenset({"password", "passwd", "pwd", "sslpassword", "secret", "token"})
# scheme://user:password@ in any text; key=value secrets of libpq connection strings.
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s'\"]*:)"
                       r"(?P<secret>[^@/\s'\"]*)@")
_KEYWORDS = re.compile(r"(?P<head>\b(?:password|passwd|pwd|sslpassword)\s*=\s*)"
                       r"(?P<secret>'(?:[^'\\]|\\.)*'|[^\s&;,'\"]+)", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` with its password (and password-like query parameters) replaced by ``***``;
    anything that does not parse as a URL goes through ``redact_text``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    redacted = url
    if "@" in parts.netloc:
        userinfo, _, host = parts.netloc.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        if colon:
            redacted = redacted.replace(f"//{parts.netloc}", f"//{user}:{MASK}@{host}", 1)
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        if any(key.lower() in SECRET_PARAMS for key, _ in pairs):
            query = urlencode([(key, MASK if key.lower() in SECRET_PARAMS else value)
                               for key, value in pairs], safe="*")
            redacted = redacted.replace(f"?{parts.query}", f"?{query}", 1)
    return redact_text(redacted)


def redact_text(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` in it, and every
    ``password=...`` (libpq keywords), replaced by ``***``."""
    text = _USERINFO.sub(lambda m: f"{m.group('head')}{MASK}@", str(text))
    return _KEYWORDS.sub(lambda m: f"{m.group('head')}{MASK}", text)
