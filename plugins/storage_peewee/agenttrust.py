"""Agent trust records, join tokens and the bus id (``jsbus.agentauth``; migration 0009)."""
from __future__ import annotations

from datetime import datetime

from jsbus.model import AgentTrust, JoinToken

from .base import StoreBase, storage_errors


def to_trust(row) -> AgentTrust:
    return AgentTrust(instance_id=row.instance_id, state=row.state, public_key=row.public_key,
                      secret=bytes.fromhex(row.secret) if row.secret else None,
                      candidate_key=row.candidate_key, via=row.via or "",
                      updated_at=row.updated_at)


def to_join_token(row) -> JoinToken:
    return JoinToken(id=row.id, token_hash=row.token_hash, created_at=row.created_at,
                     expires_at=row.expires_at, single_use=bool(row.single_use),
                     used_at=row.used_at, note=row.note or "")


class AgentTrustRecords(StoreBase):
    """The agent-trust methods of ``PeeweeStorage``."""

    @storage_errors
    def bus_identity(self, candidate: str) -> str:
        B = self.models.BusIdentity
        with self.write_transaction():
            row = B.select().order_by(B.id).first()
            if row is None:
                B.insert(bus_id=candidate, created_at=self.clock()).execute()
                return candidate
            return row.bus_id

    @storage_errors
    def get_agent_trust(self, instance_id: str) -> AgentTrust | None:
        row = self.statements.first(self.models.AgentTrust, instance_id=instance_id)
        return None if row is None else to_trust(row)

    @storage_errors
    def save_agent_trust(self, trust: AgentTrust) -> AgentTrust:
        T = self.models.AgentTrust
        values = {"state": trust.state, "public_key": trust.public_key,
                  "secret": trust.secret.hex() if trust.secret else None,
                  "candidate_key": trust.candidate_key, "via": trust.via,
                  "updated_at": trust.updated_at or self.clock()}
        with self.write_transaction():
            if not T.update(**values).where(T.instance_id == trust.instance_id).execute():
                T.insert(instance_id=trust.instance_id, **values).execute()
        return self.get_agent_trust(trust.instance_id)

    @storage_errors
    def create_join_token(self, token_hash: str, now: datetime, expires_at: datetime,
                          single_use: bool, note: str = "") -> JoinToken:
        J = self.models.JoinToken
        with self.write_transaction():
            J.delete().where(J.token_hash == token_hash).execute()  # a re-registered bootstrap
            token_id = J.insert(token_hash=token_hash, created_at=now, expires_at=expires_at,
                                single_use=single_use, note=note).execute()
        return to_join_token(J.get_by_id(token_id))

    @storage_errors
    def list_join_tokens(self) -> list[JoinToken]:
        J = self.models.JoinToken
        return [to_join_token(row) for row in J.select().order_by(J.id)]

    @storage_errors
    def delete_join_token(self, token_id: int) -> bool:
        J = self.models.JoinToken
        return bool(J.delete().where(J.id == token_id).execute())

    @storage_errors
    def use_join_token(self, token_hash: str, now: datetime) -> JoinToken | None:
        J = self.models.JoinToken
        with self.write_transaction():
            live = (J.token_hash == token_hash) & (J.expires_at > now)
            # A single-use token is taken by the one update that sets its used_at.
            taken = J.update(used_at=now).where(
                live & ((J.single_use == False) | J.used_at.is_null())).execute()  # noqa: E712
            if not taken:
                return None
            return to_join_token(J.get(J.token_hash == token_hash))
