"""Logging: one line per request with its id, JSON in production, secrets always redacted."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from datetime import UTC, datetime
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zalo_oa import metrics
from zalo_oa.settings import Settings

_PATTERNS = [
    # token=… in query strings (the v4 API and the hook URL carry tokens there)
    (
        re.compile(
            r"\b(token|access_token|secret_key|code_verifier|refresh_token)=[^&\s\"']+", re.I
        ),
        r"\1=***",
    ),
    # header or JSON style: Authorization: Bearer …, "secret_key": "…"
    (
        re.compile(
            r"(authorization|secret_key|access_token|refresh_token|app_secret)"
            r"([\"']?\s*[:=]\s*[\"']?)(bearer\s+)?[^\s\"',}]+",
            re.I,
        ),
        r"\1\2\3***",
    ),
    (re.compile(r"\bzoa_[A-Za-z0-9_\-]{8,}"), "zoa_***"),
]


# Every pattern above as one alternation, each with its own flags: a text it does not
# match (most lines) needs no substitution, and one search is cheaper than one per pattern.
_ANY = re.compile(
    "|".join(f"(?{'i' if p.flags & re.I else '-i'}:{p.pattern})" for p, _ in _PATTERNS)
)


def redact(text: str) -> str:
    if _ANY.search(text) is None:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class Redactor(logging.Filter):
    """Rewrites every record so no token or secret reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "method", "path", "status", "duration_ms"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def handler(settings: Settings, stream: Any = None) -> logging.Handler:
    """The module's log handler: redacting, JSON when ``log_json`` is set."""
    out = logging.StreamHandler(stream)
    out.addFilter(Redactor())
    out.setFormatter(
        JsonFormatter()
        if settings.log_json
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    return out


def configure(settings: Settings) -> None:
    root = logging.getLogger()
    root.handlers[:] = [handler(settings)]
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Requests are logged once, by RequestLog, with the query string redacted.
    logging.getLogger("uvicorn.access").disabled = True


request_log = logging.getLogger("zalo_oa.request")
request_log.addFilter(Redactor())


class RequestLog:
    """Gives each request an id (``X-Request-Id``) and logs one line when it ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = os.urandom(8).hex()  # 64 random bits, as 16 hex digits
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            # The client went away before its body was read: nobody to answer, and not a
            # server error. Logged as 499 ("client closed request") on the request line.
            status = 499
        finally:
            elapsed = time.perf_counter() - started
            route = metrics.route_label(scope)
            metrics.REQUESTS_BY(route, scope["method"], str(status)).inc()
            metrics.LATENCY_BY(route).observe(elapsed)
            if request_log.isEnabledFor(logging.INFO):
                _log_request(scope, request_id, status, elapsed)


def _log_request(scope: Scope, request_id: str, status: int, elapsed: float) -> None:
    """The request's line, its path and query string redacted (built only when the
    level lets it through: redacting is a few regular expressions a request)."""
    query = scope.get("query_string", b"").decode("latin-1")
    path = redact(scope["path"] + (f"?{query}" if query else ""))
    duration = round(elapsed * 1000, 1)
    request_log.info(
        "%s %s %s %.1fms",
        scope["method"],
        path,
        status,
        duration,
        extra={
            "request_id": request_id,
            "method": scope["method"],
            "path": path,
            "status": status,
            "duration_ms": duration,
        },
    )
