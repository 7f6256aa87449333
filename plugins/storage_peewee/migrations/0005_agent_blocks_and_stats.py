"""Blocked agents and the agents' stats history.

- ``agent.blocked`` (false for the agents already there): the bus dispatches nothing new to a
  blocked agent;
- the ``agent_stat`` table: samples of each agent's heartbeat stats (``GET
  /agent/{id}/monitor/{type}``), indexed by (agent, time); the storage keeps it bounded.

Frozen like 0001: the table is declared here, not taken from ``models.py``.
"""
from peewee import BooleanField, CharField, DateTimeField, TextField


def _tables(db):
    class Base(db.Model):
        class Meta:
            legacy_table_names = False

    class AgentStat(Base):
        agent = CharField()
        time = DateTimeField()
        stats = TextField()

        class Meta:
            indexes = ((("agent", "time"), False),)

    return (AgentStat,)


def up(migrator, db):
    migrator.migrate(migrator.add_column("agent", "blocked", BooleanField(default=False)))
    db.create_tables(_tables(db))


def down(migrator, db):
    db.drop_tables(_tables(db))
    migrator.migrate(migrator.drop_column("agent", "blocked"))
