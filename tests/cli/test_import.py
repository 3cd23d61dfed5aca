"""`zalo-oa import followers`, run as a newcomer would: a real process on a SQLite file."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from models import _crypto
from tests.factories import oa
from zalo_oa import keys, migrate
from zalo_oa.db import Database
from zalo_oa.settings import Settings


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    url = f"sqlite:///{tmp_path / 'import.db'}"
    settings = Settings(database_url=url, data_dir=tmp_path / "var", _env_file=None)  # type: ignore[call-arg]
    migrate.upgrade(settings)
    ring = _crypto._ring
    keys.configure(settings)  # the key file the subprocesses will read
    database = Database.from_settings(settings)
    await oa(database, "OA1", is_default=True)
    await database.dispose()
    _crypto._ring = ring
    yield {**os.environ, "ZALO_OA_DATABASE_URL": url, "ZALO_OA_DATA_DIR": str(tmp_path / "var")}


def zalo_oa(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zalo_oa.cli", *args],
        env=env,
        text=True,
        capture_output=True,
        timeout=120,
    )


async def test_good_rows_land_and_bad_rows_are_reported(
    env: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "followers.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Code", "Name", "Phone", "RewardPoints", "ZaloOa"])
        writer.writerow(["F1", "Nguyễn Văn An", "0901", "12.5", ""])
        writer.writerow(["F2", "Trần Thị Bình", "0902", "lots", ""])
        writer.writerow(["F3", "Lê Văn Cường", "0903", "3", "NOPE"])
        writer.writerow(["F4", "Phạm Thị Dung", "0904", "", ""])
    result = zalo_oa(env, "import", "followers", str(source), "--batch", "2")
    assert result.returncode == 1, result.stderr
    assert "4 rows read, 2 imported, 2 bad" in result.stderr
    with (tmp_path / "followers.csv.errors.csv").open(encoding="utf-8") as handle:
        report = list(csv.DictReader(handle))
    assert [(r["row"], r["field"]) for r in report] == [("2", "RewardPoints"), ("3", "ZaloOa")]
    again = zalo_oa(env, "import", "followers", str(source), "--upsert")
    assert "4 rows read, 2 imported, 2 bad" in again.stderr


async def test_json_lines(env: dict[str, str], tmp_path: Path) -> None:
    source = tmp_path / "followers.jsonl"
    source.write_text(
        '{"Code": "J1", "Name": "Hoa", "IsFollower": 1}\n'
        "not json\n"
        '{"Code": "J2", "Name": "Lan", "Sex": "female"}\n',
        encoding="utf-8",
    )
    result = zalo_oa(env, "import", "followers", str(source), "--oa", "OA1")
    assert result.returncode == 1
    assert "3 rows read, 1 imported, 2 bad" in result.stderr


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("Code,Nmae\nX,Y\n", [], "unknown column(s) Nmae"),
        ("Code,Name\nX,Y\n", ["--oa", "NOPE"], "no official account with code 'NOPE'"),
        (None, [], "cannot read"),
    ],
)
async def test_unusable_input_is_refused_up_front(
    env: dict[str, str], tmp_path: Path, content: str | None, args: list[str], message: str
) -> None:
    source = tmp_path / "in.csv"
    if content is not None:
        source.write_text(content, encoding="utf-8")
    result = zalo_oa(env, "import", "followers", str(source), *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
