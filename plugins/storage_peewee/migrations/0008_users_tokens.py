"""Users, their roles per application, and their login tokens (stored as SHA-256 digests).

Frozen like 0001: the tables are declared here, not taken from ``models.py``.
"""
from peewee import CharField, DateTimeField, TextField


def _tables(db):
    class Base(db.Model):
        class Meta:
            legacy_table_names = False

    class AppUser(Base):
        user_id = CharField(unique=True)
        password_hash = TextField()
        created_at = DateTimeField()
        updated_at = DateTimeField()

    class Membership(Base):
        user_id = CharField()
        app = CharField()
        role = CharField(max_length=32)

        class Meta:
            indexes = ((("user_id", "app", "role"), True),)

    class AuthToken(Base):
        digest = CharField(max_length=64, unique=True)
        user_id = CharField()
        created_at = DateTimeField()
        expires_at = DateTimeField()
        max_expires_at = DateTimeField()
        revoked_at = DateTimeField(null=True)

        class Meta:
            indexes = ((("user_id",), False),)

    return AppUser, Membership, AuthToken


def up(migrator, db):
    db.create_tables(_tables(db))


def down(migrator, db):
    db.drop_tables(_tables(db))
