"""Secrets never appear in plain text: not in the database files, not in dumps, not in logs."""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Api
from zalo_oa import logs

SECRETS = {
    "appSecret": "app-secret-PLAIN-4821",
    "accessToken": "access-token-PLAIN-7730",
    "refreshToken": "refresh-token-PLAIN-1177",
    "oaSecretKey": "oa-secret-key-PLAIN-9035",
    "forwardUserToken": "forward-token-PLAIN-2210",
    "webhookUserToken": "hook-token-PLAIN-6652",
}
SIP = "sip-password-PLAIN-3301"


async def store_secrets(api: Api) -> None:
    fields = ", ".join(f'{k}: "{v}"' for k, v in SECRETS.items())
    await api.data(
        f'mutation {{ createOfficialAccounts(input: [{{code: "S", {fields}}}]) '
        "{ affectedCount } }"
    )
    await api.data(
        f'mutation {{ createFollowers(input: [{{code: "F", zaloOaCode: "S", '
        f'sipPassword: "{SIP}"}}]) {{ affectedCount }} }}'
    )


def dump(api: Api, tmp_path: Path) -> bytes:
    settings = api.backend.settings
    if api.backend.name == "sqlite":
        raw = b""
        database = Path(settings.database_url.split("///", 1)[1])
        for path in (database, Path(f"{database}-wal")):
            if path.exists():
                # Read in another process: closing a descriptor of a SQLite file drops every
                # POSIX lock this process holds on it, and other processes then corrupt it.
                raw += subprocess.run(["cat", str(path)], check=True, capture_output=True).stdout
        return raw
    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    url = settings.database_url.replace("postgresql+asyncpg://", "postgresql://")
    return subprocess.run(
        ["pg_dump", "--data-only", url], check=True, capture_output=True, timeout=60
    ).stdout


async def test_no_secret_in_plain_text_at_rest(api: Api, tmp_path: Path) -> None:
    await store_secrets(api)
    raw = dump(api, tmp_path)
    assert b"Shop" in raw or b"S" in raw  # the dump holds the rows
    for secret in [*SECRETS.values(), SIP]:
        assert secret.encode() not in raw, secret
    for token in api.tokens.values():
        assert token.encode() not in raw


async def test_reads_are_masked_everywhere(api: Api) -> None:
    await store_secrets(api)
    fields = " ".join(SECRETS)
    read = await api.data(f'{{ officialAccount(code: "S") {{ {fields} }} }}')
    for name, secret in SECRETS.items():
        assert read["officialAccount"][name] == "****" + secret[-4:]
    follower = await api.data('{ follower(code: "F") { sipPassword } }')
    assert follower["follower"]["sipPassword"] == "****3301"


@pytest.mark.parametrize("as_json", [False, True])
async def test_no_secret_in_logs(api: Api, as_json: bool) -> None:
    """Everything logged while secrets and tokens travel goes through the module's handler."""
    stream = io.StringIO()
    settings = api.backend.settings.model_copy(update={"log_json": as_json})
    capture = logs.handler(settings, stream)
    root = logging.getLogger()
    root.addHandler(capture)
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        await store_secrets(api)
        await api.client.get("/graphql", params={"token": api.tokens["read"]})
        await api.client.post(
            "/graphql",
            params={"token": api.tokens["admin"]},
            json={"query": "{ officialAccounts { items { appSecret } } }"},
        )
        logging.getLogger("zalo_oa.test").warning(
            "header Authorization: Bearer %s and secret_key=%s",
            api.tokens["write"],
            SECRETS["appSecret"],
        )
    finally:
        root.removeHandler(capture)
        root.setLevel(level)
    text = stream.getvalue()
    assert "POST /graphql" in text and "token=***" in text
    for secret in [*SECRETS.values(), SIP, *api.tokens.values()]:
        assert secret not in text
