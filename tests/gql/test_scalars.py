"""The DateTime scalar's output form (SPEC §3): UTC, ``Z``, milliseconds only when there are any."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from resolvers.rest_form import format_datetime

HANOI = timezone(timedelta(hours=7))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2026, 12, 3, 9, 4, 5, tzinfo=UTC), "2026-12-03T09:04:05Z"),
        (datetime(2026, 12, 3, 9, 4, 5, 123_999, tzinfo=UTC), "2026-12-03T09:04:05.123Z"),
        (datetime(2026, 12, 3, 9, 4, 5, 999, tzinfo=UTC), "2026-12-03T09:04:05.000Z"),
        (datetime(2026, 12, 3, 16, 4, 5, 250_000, tzinfo=HANOI), "2026-12-03T09:04:05.250Z"),
        (datetime(2027, 1, 1, 6, 0, tzinfo=HANOI), "2026-12-31T23:00:00Z"),
        (datetime(5, 1, 2, tzinfo=UTC), "0005-01-02T00:00:00Z"),
    ],
)
def test_a_datetime_is_written_in_utc_with_z(value: datetime, expected: str) -> None:
    assert format_datetime(value) == expected
