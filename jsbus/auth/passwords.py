"""Passwords under scrypt (RFC 7914, in the standard library): ``scrypt$<log2 N>$<r>$<p>$
<salt>$<key>`` in base64, so a cost raised later still verifies the hashes made before."""
from __future__ import annotations

import base64
import hashlib
import hmac
import os

R, P, KEY_BYTES = 8, 1, 32


def _derive(password: str, salt: bytes, log_n: int, r: int, p: int) -> bytes:
    n = 1 << log_n
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=2 * 128 * r * n + (1 << 20), dklen=KEY_BYTES)


def hash_password(password: str, log_n: int = 16) -> str:
    salt = os.urandom(16)
    key = _derive(password, salt, log_n, R, P)
    encode = base64.b64encode
    return f"scrypt${log_n}${R}${P}${encode(salt).decode()}${encode(key).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, log_n, r, p, salt, key = stored.split("$")
        if kind != "scrypt":
            return False
        derived = _derive(password, base64.b64decode(salt), int(log_n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(derived, base64.b64decode(key))
