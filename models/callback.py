from __future__ import annotations

from models._route import Route


class Callback(Route, table=True):
    """Forwards the module's own events (message.sent, token.refreshed, ...) to another module."""

    __tablename__ = "callbacks"
