"""Rotating the key that encrypts secrets at rest."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from models import _crypto
from resolvers._crud import fetch_by_keys
from resolvers.resources import OFFICIAL_ACCOUNTS
from tests.conftest import Api
from zalo_oa import keys


@pytest.fixture
def restore_ring(api: Api) -> Iterator[None]:
    yield
    keys.configure(api.backend.settings)


async def test_rotate_reencrypts_every_secret(api: Api, restore_ring: None) -> None:
    await api.data(
        'mutation { createOfficialAccounts(input: [{code: "A", appSecret: "s-1111", '
        'refreshToken: "r-2222"}, {code: "B", oaSecretKey: "k-3333"}]) '
        "{ affectedCount } }"
    )
    old = keys.load_keys(api.backend.settings)
    new = _crypto.generate_key()
    _crypto.configure(new, *old)
    seen: list[tuple[int, int]] = []
    count = await keys.rotate(api.backend.database, lambda done, total: seen.append((done, total)))
    assert count == 3 and seen[-1] == (3, 3)
    _crypto.configure(new)  # the old key is gone: everything must read with the new one
    async with api.backend.database.sessions() as session:
        rows = await fetch_by_keys(session, OFFICIAL_ACCOUNTS, "code", ["A", "B"])
    assert rows["A"].app_secret == "s-1111" and rows["A"].refresh_token == "r-2222"
    assert rows["B"].oa_secret_key == "k-3333"
    _crypto.configure(*old)
    with pytest.raises(_crypto.SecretKeyError):
        async with api.backend.database.sessions() as session:
            await fetch_by_keys(session, OFFICIAL_ACCOUNTS, "code", ["A"])
