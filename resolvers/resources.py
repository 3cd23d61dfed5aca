"""The declarations of the six resources (SPEC §3)."""

from __future__ import annotations

import models
from resolvers._resource import Relation, Resource, register

OFFICIAL_ACCOUNTS = register(
    Resource(
        key="official_accounts",
        model=models.OfficialAccount,
        type_name="OfficialAccount",
        single="officialAccount",
        plural="officialAccounts",
        rest_path="official-accounts",
        relations=[
            Relation("followers", "followers", "code", "zalo_oa", many=True),
            Relation("zns_templates", "templates", "code", "zalo_oa", many=True),
            Relation("messages", "messages", "code", "zalo_oa", many=True),
        ],
        read_only=frozenset({"last_refreshed"}),
    )
)

FOLLOWERS = register(
    Resource(
        key="followers",
        model=models.Follower,
        type_name="Follower",
        single="follower",
        plural="followers",
        rest_path="followers",
        relations=[
            Relation("zalo_oa", "official_accounts", "zalo_oa", "code", many=False),
            Relation("messages", "messages", "code", "follower", many=True),
        ],
        read_only=frozenset({"keyword"}),
        search_sources=(
            "name",
            "first_name",
            "last_name",
            "short_name",
            "phone",
            "phone2",
            "phone3",
            "phone4",
            "other_phone",
            "global_phone",
            "email",
            "personal_email",
            "company_email",
            "other_email",
            "zalo",
        ),
        soft_delete=True,
        conflict_targets={"CODE": ("code",), "ZALO_OA_ZALO": ("zalo_oa", "zalo")},
    )
)

TEMPLATES = register(
    Resource(
        key="templates",
        model=models.Template,
        type_name="ZnsTemplate",
        single="znsTemplate",
        plural="znsTemplates",
        rest_path="templates",
        relations=[Relation("zalo_oa", "official_accounts", "zalo_oa", "code", many=False)],
        read_only=frozenset({"synced"}),
    )
)

MESSAGES = register(
    Resource(
        key="messages",
        model=models.Message,
        type_name="Message",
        single="message",
        plural="messages",
        rest_path="messages",
        relations=[
            Relation("zalo_oa", "official_accounts", "zalo_oa", "code", many=False),
            Relation("follower", "followers", "follower", "code", many=False),
            Relation("template", "templates", "template", "code", many=False),
        ],
        hidden=frozenset({"keyword", "next_attempt_at", "claimed_until", "claimed_by"}),
        search_sources=("text", "phone", "zalo_user_id"),
    )
)

WEBHOOKS = register(
    Resource(
        key="webhooks",
        model=models.Webhook,
        type_name="Webhook",
        single="webhook",
        plural="webhooks",
        rest_path="webhooks",
        caller_fields=("user",),
    )
)

CALLBACKS = register(
    Resource(
        key="callbacks",
        model=models.Callback,
        type_name="Callback",
        single="callback",
        plural="callbacks",
        rest_path="callbacks",
        caller_fields=("user",),
    )
)
