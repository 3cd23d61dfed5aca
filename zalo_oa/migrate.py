"""Alembic, driven from code: `zalo-oa migrate`, the start-up check, and the tests.

Alembic (with Mako) is ~11 MB resident once imported, so a serving worker does not import
it: `serve` learns the head revision while it prepares the database and hands it to its
workers in ZALO_OA_MIGRATION_HEAD; /readyz then compares it with the row in
`alembic_version`. Without that variable (the app run under another ASGI server) the head
is read from the migration scripts on first use.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from zalo_oa.settings import Settings

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
HEAD_ENV = "ZALO_OA_MIGRATION_HEAD"


def alembic_config(settings: Settings) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(settings), revision)


@functools.cache
def expected_head() -> str | None:
    """The head this code expects: handed down by `serve`, else read from the scripts."""
    if handed_down := os.environ.get(HEAD_ENV):
        return handed_down
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


async def current(engine: AsyncEngine) -> str | None:
    """The revision the database is at (Alembic's own table; None before the first)."""
    async with engine.connect() as connection:
        exists = await connection.run_sync(
            lambda sync: sa.inspect(sync).has_table("alembic_version")
        )
        if not exists:
            return None
        rows = (await connection.execute(sa.text("SELECT version_num FROM alembic_version"))).all()
    # More than one row is a branched history, which this project never has: not current.
    return rows[0][0] if len(rows) == 1 else None


async def is_current(engine: AsyncEngine) -> bool:
    return await current(engine) == expected_head()


def upgrade_sync(settings: Settings) -> None:
    """Run from synchronous code (the CLI) even though env.py is async."""
    upgrade(settings)


__all__ = ["current", "expected_head", "is_current", "upgrade", "upgrade_sync"]
