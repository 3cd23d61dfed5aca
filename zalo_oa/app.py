"""The FastAPI application: GraphQL at /graphql, health probes, and (later) the REST shim."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from fastapi import FastAPI, Request, WebSocket
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.telemetry import TelemetryConfig
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.fastapi import GraphQLRouter
from strawberry.types.unset import UNSET, UnsetType

from gql import scalars
from gql.context import Context
from gql.graphiql import STATIC_DIR, graphiql_html
from gql.http import GraphQLPost
from gql.schema import create_schema
from legacy_rest import RestDispatch, build_router, openapi_generator
from legacy_rest import errors as rest_errors
from legacy_rest.params import ParsedCache
from resolvers import token as tokens
from zalo_oa import hooks, keys, logs, metrics, migrate, oauth_page, workers
from zalo_oa.auth import request_context, resolve_caller
from zalo_oa.db import Database
from zalo_oa.logs import RequestLog
from zalo_oa.services import Services
from zalo_oa.settings import Settings, get_settings

log = logging.getLogger("zalo_oa")
SWAGGER_DIR = Path(__file__).resolve().parent / "static" / "swagger"


class BodyLimit:
    """Refuses request bodies over ``max_bytes`` before they are read (413), and lets only
    ``large_at_once`` requests with a body of ``large_bytes`` or more in at a time: a bulk
    write holds its parsed items (1,000 wide rows are tens of MB) until it commits, so the
    others wait, unread, in front of the worker instead of all growing it at once."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, large_bytes: int = 256 * 1024, large_at_once: int = 2
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.large_bytes = large_bytes
        self.large = asyncio.Semaphore(large_at_once)
        self.large_pending = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        size = int(length) if length is not None and length.isdigit() else 0
        if size > self.max_bytes:
            await _too_large(self.max_bytes)(scope, receive, send)
            return
        if size >= self.large_bytes:
            self.large_pending += 1  # served or waiting: a burst ends when none are
            try:
                async with self.large:
                    await self._limited(scope, receive, send)
            finally:
                self.large_pending -= 1
                if not self.large_pending:
                    _release_free_memory()
        else:
            await self._limited(scope, receive, send)

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _BodyTooLarge:
            await _too_large(self.max_bytes)(scope, receive, send)


def _release_free_memory() -> None:
    """Hand the heap's free pages back to the system (glibc's ``malloc_trim``) once the
    last large body of a burst is done: glibc keeps them otherwise, and a worker stays at
    its peak after one burst of bulk writes. A few milliseconds, only after large bodies."""
    if _malloc_trim is not None:
        _malloc_trim(0)


def _find_malloc_trim() -> Any:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return None


_malloc_trim = _find_malloc_trim()


class _BodyTooLarge(Exception):
    pass


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse(
        {
            "error": {
                "code": "PAYLOAD_TOO_LARGE",
                "message": f"request body over {limit} bytes",
                "details": [],
            }
        },
        status_code=413,
    )


def _fastapi_telemetry() -> TelemetryConfig | None:
    """FastAPI's native OpenTelemetry instrumentation: FastAPI's own default (on once a
    provider is configured) when its auto-configuration is asked for or a global provider is
    already set when the app is created; otherwise off, which spares every request FastAPI's
    look-up of the three global providers (an environment read each, ~1 % of a one-row
    query)."""
    if os.getenv("FASTAPI_OTEL_AUTO_CONFIGURE", "").lower() == "true":
        return None
    from opentelemetry import _logs, metrics, trace  # imported by FastAPI already

    providers = (
        trace.get_tracer_provider(),
        metrics.get_meter_provider(),
        _logs.get_logger_provider(),
    )
    if any(not type(p).__name__.lstrip("_").startswith("Proxy") for p in providers):
        return None
    return {"tracing": False, "metrics": False, "logs": False}


class Router(GraphQLRouter[Context, None]):
    """Strawberry's router with the module's own offline GraphiQL page."""

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(graphiql_html("/graphql/static"))

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        # orjson's JSONDecodeError is json's: Strawberry's 400 for a bad body still applies.
        return orjson.loads(data)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """graphql-transport-ws: a ``{"token": …}`` in ``connection_init`` authenticates too."""
        params = context.connection_params
        token = params.get("token") if isinstance(params, dict) else None
        if isinstance(token, str) and token:
            header = context.request.headers.get("authorization") if context.request else None
            await resolve_caller(context.database, context, header, token)
        return UNSET


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    keys.configure(settings)
    scalars.set_timezone(settings.timezone)
    tokens.CACHE.ttl = settings.token_cache_seconds
    database = Database.from_settings(settings)
    services = Services.create(settings, database)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Everything built at start-up (schema, generated types, routes) lives as long as the
        # process: freeze it out of the collector's scans, whose old-generation passes
        # otherwise pause every request ~100 ms (webhook ingest p99: 250 → 60 ms).
        gc.collect()
        gc.freeze()
        async with hooks.background(services), workers.background(services):
            yield
        await services.close()
        await database.dispose()

    app = FastAPI(
        telemetry=_fastapi_telemetry(),
        title="Zalo OA module",
        version="0.1.0",
        lifespan=lifespan,
        description="GraphQL at /graphql; the legacy v4 REST API under /v4/zalo-oa.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.services = services

    async def get_context(request: Request = None, websocket: WebSocket = None) -> Context:  # type: ignore[assignment]
        connection = request if request is not None else websocket
        assert connection is not None
        return await request_context(
            app.state,
            getattr(connection.state, "request_id", None),
            connection.headers.get("authorization"),
            connection.query_params.get("token"),
        )

    schema = create_schema(settings)
    app.state.schema = schema
    app.state.rest_params = ParsedCache()  # legacy_rest.params: parsed query strings
    router = Router(
        schema,
        context_getter=get_context,
        graphql_ide="graphiql" if settings.graphiql else None,
    )
    app.include_router(router, prefix="/graphql")
    app.include_router(oauth_page.router(services))
    app.state.hooks = hooks.Receiver(services)
    app.include_router(hooks.router(app.state.hooks))  # Zalo's webhooks
    app.include_router(build_router())  # the legacy v4 REST shim
    app.openapi = openapi_generator(app)  # type: ignore[method-assign]
    rest_errors.install(app)
    if settings.graphiql:
        app.mount("/graphql/static", StaticFiles(directory=STATIC_DIR), name="graphiql")

    metrics.register_zalo(services.zalo)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_page() -> Response:
        await metrics.refresh_gauges(database)
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    # Swagger UI from the module's own assets (FastAPI's default page loads them from a CDN).
    app.mount("/docs/static", StaticFiles(directory=SWAGGER_DIR), name="swagger")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Zalo OA module — REST v4",
            swagger_js_url="/docs/static/swagger-ui-bundle.js",
            swagger_css_url="/docs/static/swagger-ui.css",
            swagger_favicon_url="/docs/static/favicon-32x32.png",
        )

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        checks: dict[str, str] = {}
        try:
            async with database.engine.connect() as connection:
                await connection.execute(sa.text("SELECT 1"))
            checks["database"] = "ok"
            current = await migrate.is_current(database.engine)
            checks["migrations"] = "ok" if current else "out of date"
        except Exception as exc:  # a probe reports, it does not raise
            checks.setdefault("database", f"unreachable: {type(exc).__name__}")
        # A sender that was started and has stopped is a broken process, not a quiet one.
        task = getattr(services.sender, "_task", None)
        if task is not None:
            checks["sender"] = "ok" if not task.done() else "stopped"
        ready = all(v == "ok" for v in checks.values()) and len(checks) >= 2
        return JSONResponse(
            {"status": "ok" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
        )

    if settings.lean_dispatch:
        # Innermost, inside the request log and the body limit: see gql.http and
        # legacy_rest.routes.RestDispatch.
        app.add_middleware(RestDispatch)
        app.add_middleware(GraphQLPost, schema=schema)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        large_bytes=settings.large_body_bytes,
        large_at_once=settings.large_body_concurrency,
    )
    app.add_middleware(RequestLog)
    return app


def serve_app() -> FastAPI:
    """The factory uvicorn workers call: logging first, then the app."""
    settings = get_settings()
    logs.configure(settings)
    return create_app(settings)
