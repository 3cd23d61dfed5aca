"""Domain operations that talk to Zalo: authorization and token refresh."""

from __future__ import annotations

from typing import Any

import strawberry

from gql.context import Context
from gql.factory import lazy, one_loader
from resolvers import oauth
from resolvers.caller import Scope
from resolvers.resources import OFFICIAL_ACCOUNTS

OfficialAccountRef = lazy("OfficialAccount")


@strawberry.type(description="Where to send the OA admin to grant access, and its state.")
class AuthorizationUrl:
    url: str
    state: str


@strawberry.type
class ZaloMutation:
    @strawberry.mutation(
        description="The Zalo permission URL for an account, with a fresh "
        "PKCE challenge and a one-time state (redirectUri defaults to the "
        "account's callbackUrl)."
    )
    async def authorize_official_account(
        self, info: strawberry.Info[Context], code: str, redirect_uri: str | None = None
    ) -> AuthorizationUrl:
        ctx = info.context
        ctx.caller.require(Scope.ADMIN, "authorizing an account")
        async with ctx.db() as session:
            started = await oauth.start(session, ctx.zalo.zalo, code, redirect_uri)
        return AuthorizationUrl(url=started.url, state=started.state)

    @strawberry.mutation(description="Refresh the account's access token now.")
    async def refresh_official_account_token(
        self, info: strawberry.Info[Context], code: str
    ) -> OfficialAccountRef:  # type: ignore[valid-type]
        ctx = info.context
        ctx.caller.require(Scope.WRITE, "refreshing a token")
        await ctx.zalo.tokens.refresh(code, force=True)
        ctx.clear_loaders()
        row: Any = await one_loader(ctx, OFFICIAL_ACCOUNTS, "code").load(code)
        return row
