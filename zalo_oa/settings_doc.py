"""Writes the settings reference (docs/configuration.md) from the Settings class itself."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Any

from zalo_oa.settings import Settings

HEADER = """# Configuration

Every setting is an environment variable prefixed `ZALO_OA_` (or a line in `.env`). This
page is generated from `zalo_oa/settings.py` by `scripts/settings-doc`; CI checks that it
is current.

| variable | type | default | meaning |
|---|---|---|---|
"""


def _type(annotation: Any) -> str:
    name = getattr(annotation, "__name__", None) or str(annotation)
    return name.replace("typing.", "").replace("NoneType", "none").replace("|", "or")


def _default(value: Any) -> str:
    if isinstance(value, Enum):
        return f"`{value.value}`"
    if value is None:
        return "—"
    return f"`{value}`"


def render() -> str:
    rows = []
    for name, field in Settings.model_fields.items():
        rows.append(
            f"| `ZALO_OA_{name.upper()}` | {_type(field.annotation)} | "
            f"{_default(field.default)} | {field.description or ''} |"
        )
    return HEADER + "\n".join(rows) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
