"""The shared shape of Webhooks and Callbacks: routes that forward events to other modules."""

from __future__ import annotations

from typing import Any

from sqlmodel import Field

from models._base import Keyed
from models._types import JSONText


class Route(Keyed):
    description: str | None = Field(default=None)
    extend_data: Any = Field(default=None, sa_type=JSONText, nullable=True)
    feature: str | None = Field(default=None)
    input_type: str | None = Field(default=None)
    is_applied: int | None = Field(default=None)
    is_public: int | None = Field(default=None)
    module: str | None = Field(default=None)
    name: str | None = Field(default=None)
    type: str | None = Field(default=None)
    user: str | None = Field(default=None)
    value: str | None = Field(default=None)
