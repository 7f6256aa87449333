"""Attempts: fencing of executions the bus moves from one agent to another (issue 8).

- ``job_execution.attempt``: 1 for the executions already there; the bus adds one each time it
  moves an execution back to waiting (its agent was lost or drained, or never got it), and
  refuses the events of any other attempt.
"""
from peewee import IntegerField


def up(migrator, db):
    migrator.migrate(migrator.add_column("job_execution", "attempt", IntegerField(default=1)))


def down(migrator, db):
    migrator.migrate(migrator.drop_column("job_execution", "attempt"))
