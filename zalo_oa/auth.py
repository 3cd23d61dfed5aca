"""Who is calling: the API token of a request, from its header or its ``token`` parameter."""

from __future__ import annotations

from typing import Any

from gql.context import Context
from resolvers import token as tokens
from zalo_oa.db import Database


def bearer(authorization: str | None) -> str | None:
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


async def resolve_caller(
    database: Database, context: Context, header: str | None, query: str | None
) -> None:
    """Fill ``context.caller_`` from the request's token (header or ``token`` parameter)."""
    given = [t for t in (bearer(header), query) if t]
    if not given:
        context.auth_error = "a valid API token is required (Authorization: Bearer …)"
        return
    if len(set(given)) > 1:
        context.auth_error = "the Authorization header and the token parameter disagree"
        return
    caller = tokens.CACHE.get(given[0])
    if caller is None:
        async with database.sessions() as session:
            caller = await tokens.authenticate(session, given[0])
            await session.commit()
        if caller is not None:
            tokens.CACHE.put(given[0], caller)
    if caller is None:
        context.auth_error = "the API token is unknown or revoked"
    context.caller_ = caller


async def request_context(
    app_state: Any, request_id: str | None, header: str | None, query: str | None
) -> Context:
    """The GraphQL context of one HTTP request, for every route that runs an operation
    (POST /graphql, Strawberry's router, the REST shim): the app's database, settings and
    services, the request's id, and its caller."""
    database, settings = app_state.database, app_state.settings
    services = getattr(app_state, "services", None)
    context = (
        Context(database=database, settings=settings, services=services, request_id=request_id)
        if request_id
        else Context(database=database, settings=settings, services=services)
    )
    await resolve_caller(app_state.database, context, header, query)
    return context
