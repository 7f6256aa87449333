"""Agent trust (``jsbus.agentauth``):

- ``bus_identity``: one row, the bus id every bus process on this database signs with;
- ``agent_trust``: per agent instance id, its state (pending, approved, enrolled, revoked), its
  public key, its secret (hex; deleted on revocation), a candidate key waiting for approval;
- ``join_token``: join tokens by the SHA-256 of the token (never the token itself).

Frozen like 0001: the tables are declared here, not taken from ``models.py``.
"""
from peewee import BooleanField, CharField, DateTimeField, TextField


def _tables(db):
    class Base(db.Model):
        class Meta:
            legacy_table_names = False

    class BusIdentity(Base):
        bus_id = CharField(max_length=64)
        created_at = DateTimeField()

    class AgentTrust(Base):
        instance_id = CharField(unique=True)
        state = CharField(max_length=16)
        public_key = TextField(null=True)
        secret = TextField(null=True)
        candidate_key = TextField(null=True)
        via = TextField(default="")
        updated_at = DateTimeField()

    class JoinToken(Base):
        token_hash = CharField(max_length=64, unique=True)
        created_at = DateTimeField()
        expires_at = DateTimeField()
        single_use = BooleanField()
        used_at = DateTimeField(null=True)
        note = TextField(default="")

    return (BusIdentity, AgentTrust, JoinToken)


def up(migrator, db):
    db.create_tables(_tables(db))


def down(migrator, db):
    db.drop_tables(_tables(db))
