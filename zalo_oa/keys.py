"""The key that encrypts secrets at rest: from settings, or a generated owner-only file."""

from __future__ import annotations

import os
from pathlib import Path

from models import _crypto
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
