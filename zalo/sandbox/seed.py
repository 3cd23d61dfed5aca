"""The demo world that ``serve --sandbox`` and the tests start from."""

from __future__ import annotations

from typing import Any

DEMO_APP_ID = "1234567890"
DEMO_APP_SECRET = "demo-app-secret"
DEMO_OA_SECRET_KEY = "demo-oa-secret-key"
DEMO_OA_ID = "1029384756473829102"
DEMO_ADMIN_PHONE = "84987654321"
DEMO_REDIRECT_URI = "http://127.0.0.1:8000/v4/zalo-oa/oauth/callback"

_FAMILY = [
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh",
    "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ",
]  # fmt: skip
_GIVEN = [
    "Văn An", "Thị Lan", "Minh Quân", "Ngọc Anh", "Đức Thắng",
    "Thu Hà", "Quang Huy", "Thanh Hương", "Hữu Phúc", "Thị Mai",
]  # fmt: skip


def _user(index: int) -> dict[str, Any]:
    name = f"{_FAMILY[index % len(_FAMILY)]} {_GIVEN[index // len(_FAMILY) % len(_GIVEN)]}"
    tags = [tag for tag, every in (("vip", 10), ("khách mới", 7)) if index % every == 0]
    return {
        "user_id": str(2_512_523_625_412_515 + index * 104_729),
        "display_name": name,
        "is_follower": True,
        # Every 15th follower last wrote 10 days ago, so the 7-day rule (-230) shows up.
        "last_interaction_days_ago": 10 if index % 15 == 14 else index % 6,
        "tags": tags,
        "phone": f"8490{index:07d}",
        "avatar": f"https://s120-ava-talk.zadn.vn/demo/{index}.jpg",
    }


def _templates() -> list[dict[str, Any]]:
    def param(name: str, max_length: int | str, require: bool = True, kind: str = "STRING") -> Any:
        return {
            "name": name,
            "require": require,
            "type": kind,
            "maxLength": max_length,
            "minLength": 0,
            "acceptNull": not require,
        }

    return [
        {
            "template_id": "250001",
            "name": "Mã xác thực OTP",
            "tag": "OTP",
            "price": "300.0",
            "params": [param("otp", 6)],
        },
        {
            "template_id": "250002",
            "name": "Xác nhận đơn hàng",
            "price": "440.0",
            # Zalo sends some numbers as strings; the demo does too.
            "params": [
                param("customer_name", "30"),
                param("order_code", "20"),
                param("amount", "12", kind="NUMBER"),
                param("order_date", "20", kind="DATE"),
                param("note", "100", require=False),
            ],
            "buttons": [
                {"type": 1, "title": "Xem đơn hàng", "content": "https://example.com/orders"}
            ],
        },
        {
            "template_id": "250003",
            "name": "Ưu đãi thành viên",
            "status": "PENDING_REVIEW",
            "tag": "POST_TRANSACTION",
            "quality": "UNDEFINED",
            "params": [param("customer_name", 30), param("voucher_code", 15)],
        },
    ]


def demo_seed(redirect_uri: str = DEMO_REDIRECT_URI) -> dict[str, Any]:
    """App ``1234567890`` with "demo OA": 120 followers and 3 ZNS templates (one pending)."""
    return {
        "oas": [
            {
                "oa_id": DEMO_OA_ID,
                "name": "demo OA",
                "description": "Official Account mẫu của sandbox",
                "oa_alias": "demo-oa",
                "avatar": "https://s160-ava-talk.zadn.vn/demo/oa.jpg",
                "cover": "https://cover-talk.zadn.vn/demo/oa.jpg",
                "admin_phones": [DEMO_ADMIN_PHONE],
                "users": [_user(index) for index in range(120)],
                "templates": _templates(),
            }
        ],
        "apps": [
            {
                "app_id": DEMO_APP_ID,
                "secret_key": DEMO_APP_SECRET,
                "oa_secret_key": DEMO_OA_SECRET_KEY,
                "redirect_uri": redirect_uri,
                "oa_id": DEMO_OA_ID,
            }
        ],
    }
