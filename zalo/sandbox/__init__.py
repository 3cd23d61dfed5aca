"""A fake Zalo that speaks Zalo's HTTP (``zalo-api.md`` §8), for tests and ``serve --sandbox``.

One ASGI app serves the three hosts by path prefix: ``/oauth`` (oauth.zaloapp.com),
``/openapi`` (openapi.zalo.me) and ``/zns`` (business.openapi.zalo.me). Access tokens live
25 h and refresh tokens 90 days of a fake clock; refresh tokens are single use.

Control API (JSON in and out; bad input answers 400 ``{"error": ...}``):

- ``POST /__fake/seed`` — add apps, OAs, users, templates, tokens::

      {"oas": [{"oa_id", "name", "admin_phones": [...], "zns_enabled", "zns_daily_quota",
                "zns_remaining_quota", "users": [{"user_id", "display_name", "is_follower",
                "last_interaction_days_ago" | "last_interaction_ms", "tags", "phone"}],
                "templates": [{"template_id", "name", "status", "tag", "price", "quality",
                               "params": [<Zalo listParams item>], "buttons": [...]}]}],
       "apps": [{"app_id", "secret_key", "oa_secret_key", "redirect_uri", "oa_id"}],
       "tokens": [{"app_id", "oa_id", "access_token"?, "refresh_token"?, "expires_in"?}],
       "knobs": {...}, "webhook_url": "..."}

- ``POST /__fake/reset`` — start over from the body's seed, or the app's own seed if empty.
- ``POST /__fake/clock {"advance_seconds": N}`` → ``{"now_ms", "offset_seconds"}``.
- ``POST /__fake/knobs`` — set any of :class:`~zalo.sandbox.state.Knobs` by name:
  ``token_fault`` (``empty|html|quoted_error|no_access_token|missing_refresh|http500|
  slow:<s>``, for ``token_fault_count`` calls or until cleared with null),
  ``require_verifier``, ``deny_consent``, ``expires_in_number``, ``rate_limit_per_minute``,
  ``night_window``, ``fail_next_sends`` + ``fail_mode`` (``-100|http500``), ``slow_seconds``,
  ``require_appsecret_proof``, ``conversation_id_field`` (``message_id|msg_id``),
  ``echo_webhooks``, ``zns_delivery_webhooks``, ``zns_delivery_delay_seconds``,
  ``webhook_signature`` (``mac|bare|wrong_secret|none``), ``webhook_stale``,
  ``webhook_duplicate``, ``webhook_retries``; plus the actions
  ``revoke_grant {"oa_id", "app_id"?}`` and ``zns_quota {"oa_id"?, "daily"?, "remaining"?}``.
  → ``{"knobs": {...}}``.
- ``POST /__fake/tokens {"app_id", "oa_id"?, "expires_in"?}`` → a fresh token pair, as if the
  OA had been authorized.
- ``GET /__fake/state`` → ``now_ms``, ``refresh_token_uses`` and ``refresh_token_attempts``
  (per token), ``access_tokens``, ``oa_messages`` and ``oa_message_counts`` (key
  ``"<user_id>:<text>"`` for text), ``zns_messages`` and ``zns_message_counts`` (key
  ``tracking_id``), ``calls`` (``"METHOD /path"`` → n), ``webhook_deliveries``, ``knobs``.
- ``POST /__fake/webhook/target {"url", "app_id"?}`` — where events go.
- ``POST /__fake/webhook/emit {"event_name", "oa_id" | "app_id", "user_id"?, "text"?,
  "attachments"?, "msg_id"?, "msg_ids"?, "zns"?, "hold"?, "delivery"?: {"signature",
  "stale", "duplicate", "retries"}, ...}`` — other fields are copied into the payload. →
  ``{"payload", "body", "signature", "deliveries": [{"copy", "attempt", "status"}]}``;
  ``deliveries`` is empty without a target (the event still happens). With ``"hold": true``
  the event waits for ``POST /__fake/webhook/flush {"order": "fifo|reverse|shuffle"}``.
- ``/__fake/webhook/inbox`` — a receiver for tests: POST records (``?status=`` sets the
  answer), GET lists ``{"items": [{"headers", "body"}]}``, DELETE clears.
"""

from __future__ import annotations

from typing import Any

import uvicorn

from zalo.sandbox.app import create_app
from zalo.sandbox.harness import SandboxControl, SandboxServer
from zalo.sandbox.seed import demo_seed

__all__ = ["SandboxControl", "SandboxServer", "create_app", "demo_seed", "run"]


def run(host: str = "127.0.0.1", port: int = 8900, seed: dict[str, Any] | None = None) -> None:
    """Serve the sandbox (the demo world unless ``seed`` is given) until interrupted."""
    uvicorn.run(create_app(demo_seed() if seed is None else seed), host=host, port=port)
