from __future__ import annotations

from models._route import Route


class Webhook(Route, table=True):
    """Forwards Zalo events to another module."""

    __tablename__ = "webhooks"
