"""Talking to Zalo: the HTTP client, webhook signatures, PKCE, and a fake Zalo to test against.

- ``zalo.client``: :class:`~zalo.client.ZaloClient` (OAuth v4, OA Open API, ZNS)
- ``zalo.types``: the Pydantic models it returns; ``zalo.errors``: the exceptions it raises
- ``zalo.pkce``, ``zalo.signature``, ``zalo.phone``: small pure helpers
- ``zalo.limiter``: the client-side rate limiter
- ``zalo.sandbox``: the fake Zalo (``create_app``, ``run``, ``demo_seed``)
"""
