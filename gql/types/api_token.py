"""API tokens through GraphQL (admin only): list, create (shown once), revoke."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry

from gql.context import Context
from resolvers import token as tokens
from resolvers.caller import Scope


@strawberry.enum(
    description="read may query; write may also mutate and send; admin may "
    "also manage tokens, secrets and hard deletes."
)
class TokenScope(Enum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


@strawberry.type(description="An API token; the token itself is never shown again.")
class ApiToken:
    id: int
    prefix: str
    module: str
    scope: TokenScope
    created: datetime
    last_used: datetime | None
    revoked: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> ApiToken:
        return cls(
            id=row.id,
            prefix=row.prefix,
            module=row.module,
            scope=TokenScope(row.scope),
            created=row.created,
            last_used=row.last_used,
            revoked=row.revoked,
        )


@strawberry.type
class NewApiToken:
    token: str = strawberry.field(description="Shown once: store it now.")
    api_token: ApiToken


async def _find(info: strawberry.Info[Context], token_id: int) -> ApiToken:
    async with info.context.db() as session:
        rows = await tokens.list_all(session)
    return ApiToken.from_row(next(r for r in rows if r.id == token_id))


@strawberry.type
class ApiTokenQuery:
    @strawberry.field(description="Every API token (admin).")
    async def api_tokens(self, info: strawberry.Info[Context]) -> list[ApiToken]:
        info.context.caller.require(Scope.ADMIN, "listing tokens")
        async with info.context.db() as session:
            return [ApiToken.from_row(r) for r in await tokens.list_all(session)]


@strawberry.type
class ApiTokenMutation:
    @strawberry.mutation(description="Create a token for a module (admin); shown once.")
    async def create_api_token(
        self, info: strawberry.Info[Context], module: str, scope: TokenScope
    ) -> NewApiToken:
        info.context.caller.require(Scope.ADMIN, "creating tokens")
        async with info.context.db() as session:
            token, token_id = await tokens.create(session, module, Scope[scope.name])
        return NewApiToken(token=token, api_token=await _find(info, token_id))

    @strawberry.mutation(description="Revoke a token (admin); calls with it fail from now on.")
    async def revoke_api_token(self, info: strawberry.Info[Context], id: int) -> ApiToken:
        info.context.caller.require(Scope.ADMIN, "revoking tokens")
        async with info.context.db() as session:
            await tokens.revoke(session, id)
        return await _find(info, id)
