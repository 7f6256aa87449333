"""The part of the storage interface that keeps what makes agents trusted (``jsbus.agentauth``):
the bus's identity, each agent's trust record, join tokens. ``jsbus.storage.Storage`` includes
it; the rules of that module hold here too."""
from __future__ import annotations

import abc
from datetime import datetime

from jsbus.model import AgentTrust, JoinToken


class AgentTrustStorage(abc.ABC):
    @abc.abstractmethod
    def bus_identity(self, candidate: str) -> str:
        """The bus id stored in the database; the first call stores ``candidate`` (every bus
        process on one database is one bus)."""

    @abc.abstractmethod
    def get_agent_trust(self, instance_id: str) -> AgentTrust | None: ...

    @abc.abstractmethod
    def save_agent_trust(self, trust: AgentTrust) -> AgentTrust:
        """Create or replace the trust record of ``trust.instance_id``."""

    @abc.abstractmethod
    def create_join_token(self, token_hash: str, now: datetime, expires_at: datetime,
                          single_use: bool, note: str = "") -> JoinToken: ...

    @abc.abstractmethod
    def list_join_tokens(self) -> list[JoinToken]: ...

    @abc.abstractmethod
    def delete_join_token(self, token_id: int) -> bool:
        """False when there was none."""

    @abc.abstractmethod
    def use_join_token(self, token_hash: str, now: datetime) -> JoinToken | None:
        """The unexpired, unused token of that hash, marked used (a single-use one can never
        be used again: one atomic update), or None."""
