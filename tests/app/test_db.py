"""The engine's PostgreSQL connections: named, and born knowing the types requests bind."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from tests.conftest import Backend
from zalo_oa.db import create_engine


async def test_a_new_connection_binds_any_column_types_array_without_asking(
    backend: Backend,
) -> None:
    """A relation level binds its keys as one array (`= ANY($1)`). asyncpg asks the server
    what an array type is the first time a connection meets it, three statements inside
    that request; the engine asks about every column type's array once, when it connects."""
    if backend.name != "postgres":
        pytest.skip("asyncpg's type introspection is PostgreSQL's")
    engine = create_engine(backend.settings)
    try:
        async with engine.connect() as connection:
            raw = (await connection.get_raw_connection()).driver_connection
            assert raw is not None
            seen: list[str] = []
            raw.add_query_logger(lambda record: seen.append(record.query))
            row = (
                await connection.exec_driver_sql(
                    "SELECT $1::INTEGER[], $2::VARCHAR[], $3::TIMESTAMP WITH TIME ZONE[],"
                    " $4::NUMERIC[], $5::BOOLEAN[]",
                    ([1, 2], ["F1"], [datetime(2026, 1, 1, tzinfo=UTC)], [1], [True]),
                )
            ).one()
            assert list(row)[1] == ["F1"]
            assert not [q for q in seen if "typeinfo" in q], seen
            name = await connection.scalar(sa.text("SELECT current_setting('application_name')"))
            assert name == "zalo-oa"
    finally:
        await engine.dispose()
