"""The fake Zalo's world: apps, OAs, users, grants, messages, templates and a movable clock."""

from __future__ import annotations

import json
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zalo.sandbox.webhook import Event

VN_TZ = timezone(timedelta(hours=7))
ACCESS_TTL = 90_000
REFRESH_TTL = 90 * 86_400
CODE_TTL = 600
DEFAULT_RATE_LIMIT = 4000
INTERACTION_WINDOW_MS = 7 * 86_400_000
# Webhook logs are trimmed to this many entries so a long-running sandbox stays small.
KEEP_RECORDS = 1000


def new_id(digits: int = 19) -> str:
    return str(secrets.randbelow(9 * 10 ** (digits - 1)) + 10 ** (digits - 1))


def new_message_id() -> str:
    return secrets.token_hex(10)


@dataclass
class Clock:
    """Wall-clock time shifted by however far the tests have advanced it."""

    offset: float = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def today(self) -> datetime:
        return datetime.fromtimestamp(self.now(), VN_TZ)


@dataclass
class App:
    app_id: str
    secret_key: str
    oa_secret_key: str
    redirect_uri: str
    oa_id: str
    webhook_url: str | None = None


@dataclass
class User:
    user_id: str
    display_name: str
    is_follower: bool = True
    last_interaction_ms: int = 0
    tags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    user_id_by_app: str = field(default_factory=new_id)
    avatar: str = ""
    phone: str | None = None
    shared_info: dict[str, Any] | None = None


@dataclass
class ChatRow:
    message_id: str
    user_id: str
    src: int
    time_ms: int
    type: str
    text: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Template:
    template_id: str
    name: str
    status: str = "ENABLE"
    params: list[dict[str, Any]] = field(default_factory=list)
    buttons: list[dict[str, Any]] = field(default_factory=list)
    price: str = "300.0"
    quality: str = "HIGH"
    tag: str = "IN_TRANSACTION"
    created_ms: int = 0
    timeout_ms: int = 7_200_000
    preview_url: str = ""


@dataclass
class Oa:
    oa_id: str
    name: str
    description: str = ""
    oa_alias: str = ""
    is_verified: bool = True
    oa_type: int = 2
    cate_name: str = "Dịch vụ"
    avatar: str = ""
    cover: str = ""
    package_name: str = "Gói Nâng cao"
    linked_zca: str = ""
    zns_enabled: bool = True
    zns_daily_quota: int = 500
    zns_remaining_quota: int = 500
    admin_phones: list[str] = field(default_factory=list)
    users: dict[str, User] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    chats: list[ChatRow] = field(default_factory=list)
    templates: dict[str, Template] = field(default_factory=dict)
    uploads: dict[str, str] = field(default_factory=dict)


@dataclass
class AccessGrant:
    app_id: str
    oa_id: str
    expires_at: float


@dataclass
class RefreshGrant:
    app_id: str
    oa_id: str
    expires_at: float
    spent: bool = False
    uses: int = 0
    attempts: int = 0


@dataclass
class AuthCode:
    app_id: str
    oa_id: str
    challenge: str | None
    expires_at: float
    used: bool = False


@dataclass
class SentOa:
    message_id: str
    oa_id: str
    user_id: str
    type: str
    text: str | None
    message: dict[str, Any]
    sent_ms: int

    @property
    def key(self) -> str:
        if self.text is not None and self.type == "text":
            return f"{self.user_id}:{self.text}"
        return f"{self.user_id}:{self.type}:{sorted_json(self.message)}"


@dataclass
class SentZns:
    msg_id: str
    oa_id: str
    phone: str
    template_id: str
    template_data: dict[str, Any]
    tracking_id: str
    sent_ms: int
    development: bool
    status: int = 1
    delivery_ms: int | None = None

    @property
    def key(self) -> str:
        return (
            self.tracking_id or f"{self.phone}:{self.template_id}:{sorted_json(self.template_data)}"
        )


def sorted_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@dataclass
class Knobs:
    """Faults and switches; ``POST /__fake/knobs`` sets any of them by name."""

    token_fault: str | None = None
    token_fault_count: int | None = None
    require_verifier: bool = False
    deny_consent: bool = False
    expires_in_number: bool = False
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT
    night_window: bool = False
    fail_next_sends: int = 0
    fail_mode: str = "-100"
    slow_seconds: float = 0.0
    require_appsecret_proof: bool = False
    conversation_id_field: str = "message_id"
    echo_webhooks: bool = False
    zns_delivery_webhooks: bool = False
    zns_delivery_delay_seconds: float = 0.0
    webhook_signature: str = "mac"
    webhook_stale: bool = False
    webhook_duplicate: bool = False
    webhook_retries: int = 0

    _CHOICES = {
        "token_fault": (
            "empty",
            "html",
            "quoted_error",
            "no_access_token",
            "missing_refresh",
            "http500",
            "slow:",
        ),
        "fail_mode": ("-100", "http500"),
        "conversation_id_field": ("message_id", "msg_id"),
        "webhook_signature": ("mac", "bare", "wrong_secret", "none"),
    }

    def update(self, values: dict[str, Any]) -> None:
        known = {f.name: f for f in fields(self)}
        for name, value in values.items():
            if name not in known:
                raise ValueError(f"unknown knob {name!r}")
            default = getattr(Knobs(), name)
            if value is not None and default is not None and not isinstance(value, type(default)):
                if not (isinstance(default, float) and isinstance(value, int)):
                    raise ValueError(f"knob {name!r} wants {type(default).__name__}")
            choices = self._CHOICES.get(name)
            if (
                choices
                and value is not None
                and not any(
                    value == c or (c.endswith(":") and str(value).startswith(c)) for c in choices
                )
            ):
                raise ValueError(f"knob {name!r} must be one of {choices}")
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class World:
    clock: Clock = field(default_factory=Clock)
    knobs: Knobs = field(default_factory=Knobs)
    apps: dict[str, App] = field(default_factory=dict)
    oas: dict[str, Oa] = field(default_factory=dict)
    access: dict[str, AccessGrant] = field(default_factory=dict)
    refresh: dict[str, RefreshGrant] = field(default_factory=dict)
    codes: dict[str, AuthCode] = field(default_factory=dict)
    revoked: set[tuple[str, str]] = field(default_factory=set)
    sent_oa: list[SentOa] = field(default_factory=list)
    sent_zns: list[SentZns] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    rate_windows: dict[str, tuple[int, int]] = field(default_factory=dict)
    webhook_url: str | None = None
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    held: list[Event] = field(default_factory=list)
    inbox: list[dict[str, Any]] = field(default_factory=list)

    # Seeding

    def seed(self, data: dict[str, Any]) -> None:
        """Add (or replace, by id) the apps, OAs, users, templates and tokens in ``data``."""
        for raw in data.get("oas", []):
            self._seed_oa(raw)
        for raw in data.get("apps", []):
            app = App(**raw)
            if app.oa_id not in self.oas:
                raise ValueError(f"app {app.app_id} names unknown OA {app.oa_id}")
            self.apps[app.app_id] = app
        for raw in data.get("tokens", []):
            self.issue_tokens(
                raw["app_id"],
                raw["oa_id"],
                access_token=raw.get("access_token"),
                refresh_token=raw.get("refresh_token"),
                expires_in=raw.get("expires_in", ACCESS_TTL),
            )
        if "knobs" in data:
            self.knobs.update(data["knobs"])
        if "webhook_url" in data:
            self.webhook_url = data["webhook_url"]

    def _seed_oa(self, raw: dict[str, Any]) -> None:
        raw = dict(raw)
        users = raw.pop("users", [])
        templates = raw.pop("templates", [])
        oa = Oa(**raw)
        now_ms = self.clock.now_ms()
        for user_raw in users:
            user_raw = dict(user_raw)
            days = user_raw.pop("last_interaction_days_ago", 0)
            user_raw.setdefault("last_interaction_ms", now_ms - int(days * 86_400_000))
            user = User(**user_raw)
            oa.users[user.user_id] = user
            for tag in user.tags:
                if tag not in oa.tags:
                    oa.tags.append(tag)
        for template_raw in templates:
            template = Template(**template_raw)
            template.created_ms = template.created_ms or now_ms
            template.preview_url = (
                template.preview_url
                or f"https://account.zalo.cloud/znspreview/{template.template_id}"
            )
            oa.templates[template.template_id] = template
        self.oas[oa.oa_id] = oa

    # Grants

    def issue_tokens(
        self,
        app_id: str,
        oa_id: str,
        *,
        access_token: str | None = None,
        refresh_token: str | None = None,
        expires_in: int = ACCESS_TTL,
        with_refresh: bool = True,
    ) -> dict[str, Any]:
        if app_id not in self.apps or oa_id not in self.oas:
            raise ValueError(f"unknown app {app_id} or OA {oa_id}")
        self.revoked.discard((app_id, oa_id))
        now = self.clock.now()
        access = access_token or secrets.token_urlsafe(48)
        self.access[access] = AccessGrant(app_id, oa_id, now + expires_in)
        pair: dict[str, Any] = {"access_token": access, "expires_in": str(expires_in)}
        if with_refresh:
            refresh = refresh_token or secrets.token_urlsafe(48)
            self.refresh[refresh] = RefreshGrant(app_id, oa_id, now + REFRESH_TTL)
            pair["refresh_token"] = refresh
        return pair

    def new_code(self, app: App, challenge: str | None) -> str:
        code = secrets.token_urlsafe(32)
        self.codes[code] = AuthCode(app.app_id, app.oa_id, challenge, self.clock.now() + CODE_TTL)
        return code

    def app_for_oa(self, oa_id: str, app_id: str | None = None) -> App:
        if app_id is not None:
            return self.apps[app_id]
        for app in self.apps.values():
            if app.oa_id == oa_id:
                return app
        raise KeyError(f"no app for OA {oa_id}")

    def take_rate(self, app_id: str) -> tuple[bool, int, int]:
        """Count one call against the app's fixed minute window: (allowed, limit, remain)."""
        limit = self.knobs.rate_limit_per_minute
        window = int(self.clock.now() // 60)
        started, used = self.rate_windows.get(app_id, (window, 0))
        if started != window:
            used = 0
        if used >= limit:
            self.rate_windows[app_id] = (window, used)
            return False, limit, 0
        used += 1
        self.rate_windows[app_id] = (window, used)
        return True, limit, limit - used

    def snapshot(self) -> dict[str, Any]:
        return {
            "now_ms": str(self.clock.now_ms()),
            "clock_offset_seconds": self.clock.offset,
            "refresh_token_uses": {token: g.uses for token, g in self.refresh.items()},
            "refresh_token_attempts": {token: g.attempts for token, g in self.refresh.items()},
            "access_tokens": {
                token: {
                    "app_id": g.app_id,
                    "oa_id": g.oa_id,
                    "expires_at_ms": str(int(g.expires_at * 1000)),
                    "revoked": (g.app_id, g.oa_id) in self.revoked,
                }
                for token, g in self.access.items()
            },
            "oa_messages": [
                {
                    "message_id": m.message_id,
                    "oa_id": m.oa_id,
                    "user_id": m.user_id,
                    "type": m.type,
                    "text": m.text,
                    "message": m.message,
                    "sent_time": str(m.sent_ms),
                    "key": m.key,
                }
                for m in self.sent_oa
            ],
            "oa_message_counts": dict(Counter(m.key for m in self.sent_oa)),
            "zns_messages": [
                {
                    "msg_id": m.msg_id,
                    "oa_id": m.oa_id,
                    "phone": m.phone,
                    "template_id": m.template_id,
                    "template_data": m.template_data,
                    "tracking_id": m.tracking_id,
                    "sent_time": str(m.sent_ms),
                    "development": m.development,
                    "key": m.key,
                }
                for m in self.sent_zns
            ],
            "zns_message_counts": dict(Counter(m.key for m in self.sent_zns)),
            "calls": dict(self.calls),
            "webhook_url": self.webhook_url,
            "webhook_deliveries": self.deliveries,
            "webhooks_held": len(self.held),
            "knobs": self.knobs.as_dict(),
        }


def interaction_date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, VN_TZ).strftime("%d/%m/%Y")
