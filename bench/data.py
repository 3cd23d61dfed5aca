"""The fixed-seed data set: OAs, wide follower rows and skewed messages, bulk-loaded with COPY.

The schema comes from the project's own migrations (``zalo-oa migrate``); this module only
fills it, through asyncpg's ``copy_records_to_table``. Every value is drawn from one
``random.Random(SEED)``, so two runs of the same size load the same rows.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

import models
from models import _crypto
from resolvers.resources import FOLLOWERS, MESSAGES
from resolvers.text import keyword

SEED = 20261201
EPOCH = datetime(2026, 11, 28, 7, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Size:
    name: str
    oas: int
    followers: int
    messages: int


SIZES = {
    "tiny": Size("tiny", 2, 2_000, 10_000),
    "full": Size("full", 20, 200_000, 1_000_000),
}

# OA credentials the webhook workload (W8) signs with; the same for every OA.
APP_ID_BASE = 4_300_000_000_000_000_000
OA_SECRET = "bench-oa-secret-key"
BULK_OA = "OABULK"  # W5 writes here, so the read workloads never see its rows

SURNAMES = [
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng",
    "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý", "Trương", "Đinh", "Mai", "Lương",
]  # fmt: skip
SURNAME_WEIGHTS = [38, 11, 9, 7, 5, 4, 4, 4, 3, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1]
MIDDLES = [
    "Văn", "Thị", "Hữu", "Đức", "Minh", "Ngọc", "Thanh", "Quốc", "Gia", "Xuân",
    "Hoài", "Thu", "Kim", "Bảo", "Anh", "Công", "Mỹ", "Phương", "Tuấn", "Hồng",
]  # fmt: skip
GIVENS = [
    "An", "Anh", "Bình", "Châu", "Cường", "Dũng", "Duy", "Giang", "Hà", "Hải",
    "Hạnh", "Hiếu", "Hoa", "Hùng", "Hương", "Huy", "Khánh", "Khoa", "Lan", "Linh",
    "Long", "Mai", "Minh", "Nam", "Ngân", "Nhung", "Phong", "Phúc", "Quân", "Quang",
    "Sơn", "Tâm", "Thảo", "Thắng", "Trang", "Trung", "Tuấn", "Uyên", "Việt", "Vy",
    "Yến", "Đạt", "Đông", "Lộc", "Nhân", "Oanh", "Tiến", "Toàn", "Vân", "Xuân",
]  # fmt: skip
PLACES = [
    ("Hà Nội", "01", [("Ba Đình", ["Phúc Xá", "Trúc Bạch", "Điện Biên"]),
                      ("Hoàn Kiếm", ["Hàng Bạc", "Hàng Bông", "Tràng Tiền"]),
                      ("Cầu Giấy", ["Dịch Vọng", "Mai Dịch", "Yên Hòa"])]),
    ("Hồ Chí Minh", "79", [("Quận 1", ["Bến Nghé", "Bến Thành", "Đa Kao"]),
                           ("Quận 3", ["Võ Thị Sáu", "Phường 9", "Phường 14"]),
                           ("Thủ Đức", ["Linh Trung", "Hiệp Phú", "Thảo Điền"])]),
    ("Đà Nẵng", "48", [("Hải Châu", ["Thạch Thang", "Hòa Cường Bắc"]),
                       ("Sơn Trà", ["An Hải Bắc", "Mân Thái"])]),
    ("Hải Phòng", "31", [("Ngô Quyền", ["Máy Chai", "Lạch Tray"]),
                         ("Lê Chân", ["An Biên", "Dư Hàng"])]),
    ("Cần Thơ", "92", [("Ninh Kiều", ["An Hòa", "Cái Khế", "Xuân Khánh"])]),
    ("Khánh Hòa", "56", [("Nha Trang", ["Lộc Thọ", "Vĩnh Hải", "Phước Long"])]),
    ("Thừa Thiên Huế", "46", [("Huế", ["Phú Hội", "Vĩnh Ninh", "Thuận Thành"])]),
    ("Nghệ An", "40", [("Vinh", ["Hưng Bình", "Lê Lợi", "Quán Bàu"])]),
]  # fmt: skip
STREETS = [
    "Lê Lợi", "Nguyễn Huệ", "Trần Hưng Đạo", "Hai Bà Trưng", "Lý Thường Kiệt",
    "Phan Chu Trinh", "Điện Biên Phủ", "Cách Mạng Tháng Tám", "Võ Văn Tần", "Pasteur",
]  # fmt: skip
BANKS = ["Vietcombank", "Techcombank", "BIDV", "VietinBank", "MB Bank", "ACB", "VPBank", "TPBank"]
LEVELS = [("BRONZE", "Đồng"), ("SILVER", "Bạc"), ("GOLD", "Vàng"), ("PLATINUM", "Bạch kim")]
DEVICES = ["iPhone 15", "iPhone 13", "Samsung Galaxy A54", "Oppo Reno 10", "Xiaomi Redmi Note 12"]
DEPARTMENTS = ["Kinh doanh", "Chăm sóc khách hàng", "Kế toán", "Kỹ thuật", "Marketing"]
MAIL_DOMAINS = ["gmail.com", "yahoo.com.vn", "outlook.com", "fpt.vn", "vnpt.vn"]
MOBILE_PREFIXES = ["90", "91", "93", "94", "96", "97", "98", "32", "33", "35", "70", "77", "86"]
TEXTS = [
    "Xin chào shop, sản phẩm này còn hàng không ạ?",
    "Cho mình hỏi giá ship về Hà Nội bao nhiêu?",
    "Đơn hàng của tôi đã được giao chưa?",
    "Cảm ơn bạn đã liên hệ, chúng tôi sẽ phản hồi sớm nhất.",
    "Mã giảm giá tháng này là KM2026, áp dụng đến cuối tháng.",
    "Shop ơi mình muốn đổi size áo",
    "Dạ, đơn hàng #{n} đã được xác nhận.",
    "Bạn vui lòng gửi giúp mình số điện thoại nhận hàng nhé.",
    "ok",
    "Hẹn gặp lại quý khách!",
]  # fmt: skip
STATUSES_OUT = ["sent", "delivered", "seen", "seen", "failed"]


def _fold_ascii(text: str) -> str:
    return keyword([text]) or ""


class FollowerFactory:
    """Makes follower rows with every column filled the way a CRM contact would be."""

    def __init__(
        self, rnd: random.Random, oa_codes: list[str], columns: list[str] | None = None
    ) -> None:
        self.rnd = rnd
        self.oa_codes = oa_codes
        model = [c.name for c in models.Follower.__table__.columns]  # type: ignore[attr-defined]
        self.columns = [c for c in model if columns is None or c in columns]
        self.search = FOLLOWERS.search_sources
        # Fernet has a random IV: a small pool of ciphertexts keeps the load fast.
        self.sip_pool = [_crypto.encrypt(f"sip-{i:04d}") for i in range(32)]
        self.zalo_seen: set[str] = set()

    def _phone(self) -> str:
        r = self.rnd
        return "0" + r.choice(MOBILE_PREFIXES) + f"{r.randrange(10_000_000):07d}"

    def _zalo(self) -> str:
        while True:
            value = str(self.rnd.randrange(10**17, 10**19))
            if value not in self.zalo_seen:
                self.zalo_seen.add(value)
                return value

    def row(self, ident: int, oa: str | None = None, with_id: bool = True) -> dict[str, Any]:
        r = self.rnd
        surname = r.choices(SURNAMES, SURNAME_WEIGHTS)[0]
        middle = r.choice(MIDDLES)
        given = r.choice(GIVENS)
        name = f"{surname} {middle} {given}"
        ascii_given = _fold_ascii(given).replace(" ", "")
        ascii_sur = _fold_ascii(surname).replace(" ", "")
        province, province_code, districts = r.choice(PLACES)
        district, wards = r.choice(districts)
        ward = r.choice(wards)
        street = f"{r.randrange(1, 400)} {r.choice(STREETS)}"
        full_address = f"{street}, {ward}, {district}, {province}"
        level, level_name = r.choices(LEVELS, [60, 25, 12, 3])[0]
        phone = self._phone()
        created = EPOCH - timedelta(seconds=r.randrange(0, 3 * 365 * 86400))
        followed = created + timedelta(seconds=r.randrange(0, 86400))
        birthday = f"{r.randrange(1960, 2006)}-{r.randrange(1, 13):02d}-{r.randrange(1, 29):02d}"
        id_number = f"0{province_code}{r.randrange(10**9):09d}"
        lat = 8.5 + r.random() * 14.5
        lon = 102.2 + r.random() * 7.2
        sex = 0 if middle == "Thị" or r.random() < 0.45 else 1
        is_follower = 1 if r.random() < 0.93 else 0
        email = f"{ascii_given}.{ascii_sur}{r.randrange(1, 9999)}@{r.choice(MAIL_DOMAINS)}"
        values: dict[str, Any] = {
            "id": ident,
            "code": f"FL{ident:07d}",
            "address": street,
            "address2": f"{ward}, {district}",
            "address3": province,
            "avatar": f"https://s120-ava-talk.zadn.vn/{r.randrange(16**8):08x}/avatar.jpg",
            "avatar_bk": None,
            "avatar_url": f"https://s240-ava-talk.zadn.vn/{r.randrange(16**8):08x}/avatar.jpg",
            "bank_acc": f"{r.randrange(10**12, 10**13)}" if r.random() < 0.4 else None,
            "bank_name": r.choice(BANKS),
            "birthday": birthday,
            "branch": f"Chi nhánh {province}",
            "branch_id": r.randrange(1, 30),
            "callcenter_number": "1900" + f"{r.randrange(10000):04d}",
            "can_login": r.choice((0, 1)),
            "company_email": f"{ascii_given}@congty{r.randrange(1, 500)}.vn"
            if r.random() < 0.3
            else None,
            "contact_type": r.choice(("customer", "lead", "partner")),
            "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "creator": "zalo-sync",
            "creator_name": "zalo-sync",
            "credit_points": round(r.random() * 5000, 2),
            "current_device": r.choice(DEVICES),
            "date_of_issue_id_number": f"{r.randrange(2015, 2026)}-{r.randrange(1, 13):02d}-15",
            "debt": str(r.randrange(0, 50) * 100_000),
            "delete_by": None,
            "delete_by_name": None,
            "deleted": None,
            "department": r.choice(DEPARTMENTS),
            "district": district,
            "district_label": district,
            "email": email,
            "ethnic_origion": "Kinh" if r.random() < 0.86 else r.choice(("Tày", "Thái", "Mường")),
            "fax": None,
            "first_name": given,
            "full_address": full_address,
            "gender": "female" if sex == 0 else "male",
            "global_phone": "+84" + phone[1:],
            "group": r.choice(("VIP", "Thường", "Mới")),
            "gtalk_id": None,
            "homeland": r.choice(PLACES)[0],
            "home_tel": "024" + f"{r.randrange(10**8):08d}" if r.random() < 0.2 else None,
            "identified_number": id_number,
            "id_number": id_number,
            "id_number_snapshot": f"/files/cccd/{ident}-front.jpg",
            "id_number_snapshot2": f"/files/cccd/{ident}-back.jpg",
            "id_number_snapshot2_bk": None,
            "id_number_snapshot_bk": None,
            "is_deleted": 0,
            "is_receive_all_notifications": r.choice((0, 1)),
            "joined_date": created.strftime("%Y-%m-%d"),
            "keyword": None,
            "last_name": surname,
            "latitude": f"{lat:.6f}",
            "location": f"{lat:.6f},{lon:.6f}",
            "longitude": f"{lon:.6f}",
            "map_link": f"https://maps.google.com/?q={lat:.6f},{lon:.6f}",
            "map_url": f"https://maps.google.com/?q={lat:.6f},{lon:.6f}",
            "max_debt": str(r.randrange(0, 10) * 1_000_000),
            "member_level": level,
            "member_level_name": level_name,
            "msn_id": None,
            "name": name,
            "note": r.choice(("Khách quen", "Hay hỏi giá", "Đã mua 3 lần", "", "Cần gọi lại")),
            "other_email": None,
            "other_phone": self._phone() if r.random() < 0.25 else None,
            "parent": None,
            "parent_id_bk": None,
            "permanent_address": full_address,
            "permission": "customer",
            "personal_email": email,
            "phone": phone,
            "phone2": self._phone() if r.random() < 0.3 else None,
            "phone3": None,
            "phone4": None,
            "phone_ext": None,
            "place_of_birth": r.choice(PLACES)[0],
            "place_of_issue_id_number": "Cục Cảnh sát QLHC về TTXH",
            "province": province,
            "province_label": province,
            "religion": r.choice(("Không", "Không", "Phật giáo", "Công giáo")),
            "reward_points": round(r.random() * 10000, 2),
            "search_rank": round(r.random(), 4),
            "sex": sex,
            "short_name": given,
            "signature_snapshot": None,
            "signs_own": None,
            "sip_domain": "sip.example.vn" if r.random() < 0.1 else None,
            "sip_password": r.choice(self.sip_pool) if r.random() < 0.1 else None,
            "sip_user": f"sip{ident}" if r.random() < 0.1 else None,
            "skype_id": None,
            "state": "active",
            "tax_code": f"{r.randrange(10**9, 10**10)}" if r.random() < 0.15 else None,
            "title": r.choice(("Anh", "Chị", "Ông", "Bà", "Bạn")),
            "type": "zalo",
            "user": None,
            "ward": ward,
            "ward_label": ward,
            "website": None,
            "working_state": r.choice(("Đang làm việc", "Tự do", "Sinh viên")),
            "working_type": r.choice(("full-time", "part-time", "")),
            "work_status": "active",
            "work_tel": None,
            "yahoo_id": None,
            "zalo": self._zalo(),
            "zalo_oa": oa or r.choice(self.oa_codes),
            "is_follower": is_follower,
            "followed_at": followed,
            "unfollowed_at": None if is_follower else followed + timedelta(days=r.randrange(1, 90)),
            "last_interaction": followed + timedelta(seconds=r.randrange(0, 200 * 86400)),
            "modified": followed,
        }
        values["keyword"] = keyword(values[s] for s in self.search)
        if not with_id:
            del values["id"]
        return values

    def record(self, ident: int) -> tuple[Any, ...]:
        values = self.row(ident)
        return tuple(values[c] for c in self.columns)


async def table_columns(conn: asyncpg.Connection, table: str) -> list[str]:
    """The columns the migrations made (the models may be ahead of them mid-change)."""
    rows = await conn.fetch(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = $1",
        table,
    )
    return [r["column_name"] for r in rows]


async def load(conn: asyncpg.Connection, size: Size, log: Any = print) -> dict[str, Any]:
    """Fill a freshly migrated database; returns facts the workloads need."""
    rnd = random.Random(SEED)
    started = time.monotonic()
    oa_codes = [f"OA{i + 1:02d}" for i in range(size.oas)]
    secret = _crypto.encrypt(OA_SECRET)
    now = EPOCH
    oa_rows = []
    for i, code in enumerate([*oa_codes, BULK_OA]):
        oa_rows.append(
            (
                i + 1,
                code,
                f"Cửa hàng {code} — Shop Việt {i + 1}",
                str(APP_ID_BASE + i + 1),
                f"{1_000_000_000_000 + i}",
                secret,
                i == 0,
                True,
                1,
                now,
                now,
            )
        )
    await conn.copy_records_to_table(
        "official_accounts",
        records=oa_rows,
        columns=[
            "id",
            "code",
            "name",
            "app_id",
            "oa_id",
            "oa_secret_key",
            "is_default",
            "is_enabled",
            "status",
            "created",
            "modified",
        ],
    )

    factory = FollowerFactory(rnd, oa_codes, await table_columns(conn, "followers"))
    follower_oa: list[str] = []
    follower_code: list[str] = []
    follower_zalo: list[str] = []
    chunk: list[tuple[Any, ...]] = []
    zalo_oa_at = factory.columns.index("zalo_oa")
    zalo_at = factory.columns.index("zalo")
    for ident in range(1, size.followers + 1):
        rec = factory.record(ident)
        follower_oa.append(rec[zalo_oa_at])
        follower_code.append(rec[1])
        follower_zalo.append(rec[zalo_at])
        chunk.append(rec)
        if len(chunk) == 20_000:
            await conn.copy_records_to_table("followers", records=chunk, columns=factory.columns)
            chunk = []
    if chunk:
        await conn.copy_records_to_table("followers", records=chunk, columns=factory.columns)
    log(f"  followers: {size.followers:,} rows in {time.monotonic() - started:.0f} s")

    # Skew: a fifth of the followers (chosen at random) hold half of the messages.
    order = list(range(size.followers))
    rnd.shuffle(order)
    heavy = order[: size.followers // 5]
    light = order[size.followers // 5 :]
    columns = await table_columns(conn, "messages")
    sources = MESSAGES.search_sources
    chunk = []
    t_msg = time.monotonic()
    start_ts = EPOCH - timedelta(days=365)
    step = timedelta(days=365) / max(size.messages, 1)
    for ident in range(1, size.messages + 1):
        f = rnd.choice(heavy) if rnd.random() < 0.5 else rnd.choice(light)
        inbound = rnd.random() < 0.55
        zns = not inbound and rnd.random() < 0.1
        text = rnd.choice(TEXTS).replace("{n}", str(ident)) if not zns else None
        created = start_ts + step * ident
        status = "received" if inbound else rnd.choice(STATUSES_OUT)
        values: dict[str, Any] = {
            "id": ident,
            "code": f"MS{ident:08d}",
            "zalo_oa": follower_oa[f],
            "follower": follower_code[f],
            "zalo_user_id": follower_zalo[f],
            "direction": "in" if inbound else "out",
            "channel": "zns" if zns else "oa",
            "event": "user_send_text" if inbound else None,
            "type": "zns" if zns else "text",
            "text": text,
            "attachments": None,
            "template": None,
            "template_data": json.dumps({"order": str(ident)}) if zns else None,
            "phone": None,
            "tracking_id": f"TRK{ident}" if zns else None,
            "zalo_message_id": f"{rnd.getrandbits(64):016x}",
            "quote_message_id": None,
            "status": status,
            "error": "-230 user not interacted in 7 days" if status == "failed" else None,
            "attempts": 0 if inbound else 1,
            "sent_at": None if inbound else created + timedelta(seconds=1),
            "delivered_at": created + timedelta(seconds=3)
            if status in ("delivered", "seen")
            else None,
            "seen_at": created + timedelta(seconds=60) if status == "seen" else None,
            "created": created,
            "creator": "zalo-webhook" if inbound else "crm",
            "keyword": None,
            "next_attempt_at": None,
        }
        values["keyword"] = keyword(values[s] for s in sources)
        if ident == 1:
            columns = [c for c in columns if c in values]
        chunk.append(tuple(values[c] for c in columns))
        if len(chunk) == 50_000:
            await conn.copy_records_to_table("messages", records=chunk, columns=columns)
            chunk = []
    if chunk:
        await conn.copy_records_to_table("messages", records=chunk, columns=columns)
    log(f"  messages: {size.messages:,} rows in {time.monotonic() - t_msg:.0f} s")
    for table in ("official_accounts", "followers", "messages"):
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
        )
    await conn.execute("VACUUM (ANALYZE) official_accounts, followers, messages")
    log(f"  loaded and analyzed in {time.monotonic() - started:.0f} s")
    return {
        "oa_codes": oa_codes,
        "follower_codes_sample": [
            follower_code[i] for i in rnd.sample(order, min(5000, len(order)))
        ],
        "zalo_by_oa": _zalo_sample(follower_oa, follower_zalo, rnd),
    }


def _zalo_sample(oas: list[str], zalos: list[str], rnd: random.Random) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for i in rnd.sample(range(len(oas)), min(2000, len(oas))):
        out.setdefault(oas[i], []).append(zalos[i])
    return out


def bulk_items(count: int, seed: int, oa: str = BULK_OA) -> list[dict[str, Any]]:
    """``count`` GraphQL FollowerCreate inputs (camelCase), without code or zalo id."""
    rnd = random.Random(seed)
    factory = FollowerFactory(rnd, [oa])
    fields = [
        ("name", "name"),
        ("first_name", "firstName"),
        ("last_name", "lastName"),
        ("phone", "phone"),
        ("email", "email"),
        ("address", "address"),
        ("province", "province"),
        ("district", "district"),
        ("ward", "ward"),
        ("birthday", "birthday"),
        ("gender", "gender"),
        ("member_level", "memberLevel"),
        ("reward_points", "rewardPoints"),
        ("note", "note"),
    ]
    items = []
    for i in range(count):
        row = factory.row(i + 1, oa=oa, with_id=False)
        item = {g: row[s] for s, g in fields}
        item["zaloOaCode"] = oa
        items.append(item)
    return items
