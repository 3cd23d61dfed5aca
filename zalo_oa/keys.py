"""The key that encrypts secrets at rest: from settings, or a generated owner-only file."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel

from models import _crypto
from models._types import EncryptedText
from zalo_oa.db import Database
from zalo_oa.settings import Settings


def key_file(settings: Settings) -> Path:
    return settings.data_dir / "secret.key"


def load_keys(settings: Settings) -> list[str]:
    """Current key first; ``ZALO_OA_SECRET_KEY`` may list old keys after commas (rotation)."""
    if settings.secret_key:
        return [k.strip() for k in settings.secret_key.split(",") if k.strip()]
    path = key_file(settings)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(_crypto.generate_key() + "\n")
    return [k.strip() for k in path.read_text().splitlines() if k.strip()]


def configure(settings: Settings) -> None:
    _crypto.configure(*load_keys(settings))


def encrypted_columns() -> list[tuple[sa.Table, sa.Column[Any]]]:
    return [
        (table, column)
        for table in SQLModel.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, EncryptedText)
    ]


async def rotate(database: Database, progress: Callable[[int, int], None] | None = None) -> int:
    """Re-encrypt every stored secret with the current (first) key; returns how many."""
    done = 0
    work = encrypted_columns()
    async with database.sessions() as session:
        totals = []
        for table, column in work:
            raw = sa.type_coerce(column, sa.Text())
            rows = (
                await session.execute(
                    sa.select(
                        table.c.id if "id" in table.c else table.primary_key.columns[0], raw
                    ).where(column.is_not(None))
                )
            ).all()
            totals.append(rows)
        total = sum(len(rows) for rows in totals)
        for (table, column), rows in zip(work, totals, strict=True):
            key = table.c.id if "id" in table.c else table.primary_key.columns[0]
            for row_key, ciphertext in rows:
                await session.execute(
                    sa.update(table)
                    .where(key == row_key)
                    .values({column.key: sa.type_coerce(_crypto.rotate(ciphertext), sa.Text())})
                )
                done += 1
                if progress is not None:
                    progress(done, total)
        await session.commit()
    return done


def write_key_file(settings: Settings, keys: list[str]) -> None:
    path = key_file(settings)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(keys) + "\n")
