"""The built-in storage backend ``peewee``: SQLite (the embedded default) or PostgreSQL.

Selected with ``plugins.storage = "peewee"``; the database is ``bus.database`` or, when that is
empty, ``jsbus.db`` in the data directory (``jsbus.config.database_url``).
"""
from __future__ import annotations

from jsbus.backends import StorageBackend
from jsbus.config import Config, database_url
from jsbus.hookspecs import hookimpl

from .store import PeeweeStorage

__all__ = ["PeeweeStorage", "create_storage", "jsbus_register_storage"]


def create_storage(config: Config) -> PeeweeStorage:
    """The storage named by the configuration, not yet opened."""
    return PeeweeStorage(database_url(config))


@hookimpl
def jsbus_register_storage(config: Config) -> list[StorageBackend]:
    return [StorageBackend(name="peewee", factory=create_storage)]
