"""The long-lived parts one process shares: database, Zalo client, token keeper, and the
receiving side (live event bus, inbound applier, forwarder), and the sending side (message
sender, sync job runner)."""

from __future__ import annotations

from dataclasses import dataclass

from resolvers.forwarding import Forwarder
from resolvers.inbound import Applier, WriteGate
from resolvers.jobs import JobRunner
from resolvers.live import EventBus
from resolvers.oa_token import TokenKeeper
from resolvers.sender import Sender
from resolvers.sync import Syncs
from zalo.client import ZaloClient
from zalo_oa.db import Database
from zalo_oa.settings import Settings


@dataclass
class Services:
    settings: Settings
    database: Database
    zalo: ZaloClient
    tokens: TokenKeeper
    bus: EventBus
    applier: Applier
    forwarder: Forwarder
    sender: Sender
    jobs: JobRunner

    @classmethod
    def create(cls, settings: Settings, database: Database) -> Services:
        zalo = ZaloClient(
            settings.oauth_base_url,
            settings.openapi_base_url,
            settings.zns_base_url,
            timeout=settings.zalo_timeout_seconds,
            rate_limit_per_minute=settings.zalo_rate_limit_per_minute,
        )
        tokens = TokenKeeper(database.sessions, zalo, http_timeout=settings.zalo_timeout_seconds)
        postgres = not database.is_sqlite
        bus = EventBus(database.engine)
        gate = WriteGate(sqlite=database.is_sqlite)  # the receiving side's writers take turns
        forwarder = Forwarder(
            database.sessions,
            is_postgres=postgres,
            retry_base=settings.retry_base_seconds,
            gate=gate,
        )
        applier = Applier(
            database.sessions, is_postgres=postgres, gate=gate, on_applied=forwarder.hint
        )
        bus.on_event(forwarder.hint)
        sender = Sender(
            database.sessions,
            zalo,
            tokens,
            single=database.is_sqlite,
            lease_seconds=settings.worker_lease_seconds,
            retry_base_seconds=settings.retry_base_seconds,
            concurrency=settings.sender_concurrency,
            settle_seconds=settings.zalo_timeout_seconds + 1,
        )
        syncs = Syncs(
            database.sessions,
            zalo,
            tokens,
            concurrency=settings.sync_concurrency,
            retry_base_seconds=settings.retry_base_seconds,
        )
        jobs = JobRunner(
            database.sessions, syncs.bodies, lease_seconds=settings.worker_lease_seconds
        )
        return cls(settings, database, zalo, tokens, bus, applier, forwarder, sender, jobs)

    async def close(self) -> None:
        await self.zalo.close()
        await self.forwarder.close()
