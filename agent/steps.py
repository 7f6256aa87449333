"""Kept for code written against the seed's worker: the names it offered, now provided by
``jsagent.engine`` (which runs steps by the rules of JSR-352)."""
from __future__ import annotations

from jsagent.engine.errors import exit_status_of, traceback_text
from jsagent.engine.refs import inject, resolve_ref

__all__ = ["exit_status_of", "inject", "resolve_ref", "traceback_text"]
