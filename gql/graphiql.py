"""Self-hosted GraphiQL page: no CDN, every asset is served from :data:`STATIC_DIR`.

The page (``static/graphiql/index.html``) loads GraphiQL 3 and React 18 from
``<static_prefix>/``, sends operations to ``/graphql`` on the same origin and opens
subscriptions on ``ws(s)://<host>/graphql``. Its token bar stores the API token in
``localStorage`` (or takes it from ``?token=...``) and sends it as
``Authorization: Bearer <token>`` on every request and as ``{"token": ...}`` in the
graphql-ws ``connection_init`` payload.

Wiring, e.g. with FastAPI and Strawberry::

    app.mount("/graphql/static", StaticFiles(directory=STATIC_DIR), name="graphiql-static")

    class Router(GraphQLRouter):
        async def render_graphql_ide(self, request: Request) -> HTMLResponse:
            return HTMLResponse(graphiql_html("/graphql/static"))
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path

__all__ = ["STATIC_DIR", "graphiql_html"]

STATIC_DIR: Path = Path(__file__).resolve().parent / "static" / "graphiql"
"""Directory holding ``index.html`` and the vendored GraphiQL/React assets."""

_TEMPLATE_NAME = "index.html"
_PLACEHOLDER = "{{static_prefix}}"


@cache
def _template() -> str:
    return (STATIC_DIR / _TEMPLATE_NAME).read_text(encoding="utf-8")


def graphiql_html(static_prefix: str = "/graphql/static") -> str:
    """Return the GraphiQL page with its assets loaded from ``static_prefix``.

    ``static_prefix`` is the URL path :data:`STATIC_DIR` is served under; a trailing
    slash is ignored and the value is HTML-escaped before it is substituted.
    """
    prefix = html.escape(static_prefix.rstrip("/"), quote=True)
    return _template().replace(_PLACEHOLDER, prefix)
