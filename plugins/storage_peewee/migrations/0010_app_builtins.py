"""The restricted built-in batchlets an admin enabled for an application.

- ``application.builtins``: a JSON list of names (``"shell"``, ``"java-main"``); ``[]`` (none
  enabled) for the applications already there, so an upgrade enables nothing by itself.
"""
from peewee import TextField


def up(migrator, db):
    migrator.migrate(migrator.add_column("application", "builtins", TextField(default="[]")))


def down(migrator, db):
    migrator.migrate(migrator.drop_column("application", "builtins"))
