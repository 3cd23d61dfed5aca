"""Who is calling: the module named by its API token, and what that token may do."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from resolvers.errors import Forbidden


class Scope(IntEnum):
    READ = 1
    WRITE = 2
    ADMIN = 3


@dataclass(frozen=True)
class Caller:
    module: str
    scope: Scope
    token_id: int | None = None

    def require(self, scope: Scope, what: str) -> None:
        if self.scope < scope:
            raise Forbidden(f"{what} needs a {scope.name.lower()} token")


SYSTEM = Caller("zalo-oa", Scope.ADMIN)
