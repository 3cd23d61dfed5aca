"""planner statistics for the follower list's usual filters (PostgreSQL)

Without them PostgreSQL guesses 0.5 % for ``lower(name) LIKE …`` and for the soft-delete
test ``coalesce(is_deleted, 0) = 0``, so an OA's followers filtered by name look like a
handful of rows: it reads and sorts all of them instead of walking ``(zalo_oa, id)`` and
stopping at the page (W1 in docs/performance.md: 38 ms → 7.5 ms per query).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 20:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATISTICS = {
    "st_followers_lower_name": "(lower(name))",
    "st_followers_live": "(coalesce(is_deleted, 0))",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite's planner keeps no such statistics
    for name, expression in STATISTICS.items():
        op.execute(f"CREATE STATISTICS IF NOT EXISTS {name} ON {expression} FROM followers")
    op.execute("ANALYZE followers")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in STATISTICS:
        op.execute(f"DROP STATISTICS IF EXISTS {name}")
