from __future__ import annotations

import re

import pytest

from zalo import phone, pkce
from zalo.signature import appsecret_proof, verify_webhook_signature, webhook_signature

# Vectors from zalo-api.md §1.5, §1.6 and §4.2.
VERIFIER = "dBjftJeZ4CVP-mJ92IZoGqknelAIQgwZiNTPgN2nvhc"
CHALLENGE = "y7soHZgRPMBc_N6EttjCWGUOrvii5JoZdYdMaQPA15k"
BODY = b'{"app_id":"1234567890","event_name":"user_send_text","timestamp":"1700000000000"}'
SIGNATURE = "acec9a97faf48961437053ecbfbfe0e357a5730e80a6ea0075989474138023a7"
PROOF = "8a7343e6865c4591ad6f6b7728cb3b964b08b9725d8402e6554233dba96ff432"


def test_pkce_challenge_matches_the_vector() -> None:
    assert pkce.challenge(VERIFIER) == CHALLENGE


def test_pkce_verifier_and_state_are_fresh_base64url() -> None:
    verifiers = {pkce.new_verifier() for _ in range(20)}
    assert len(verifiers) == 20
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", v) for v in verifiers)
    assert pkce.new_state() != pkce.new_state()


def test_webhook_signature_matches_the_vector() -> None:
    assert webhook_signature("1234567890", BODY, "1700000000000", "oa-secret") == SIGNATURE


@pytest.mark.parametrize("header", [f"mac={SIGNATURE}", SIGNATURE, f"MAC={SIGNATURE.upper()}"])
def test_verify_accepts_prefixed_and_bare_hex(header: str) -> None:
    assert verify_webhook_signature(header, "1234567890", BODY, "1700000000000", "oa-secret")


@pytest.mark.parametrize(
    ("header", "secret", "body"),
    [
        (f"mac={SIGNATURE}", "wrong-secret", BODY),
        (f"mac={SIGNATURE}", "oa-secret", BODY + b" "),
        ("mac=" + "0" * 64, "oa-secret", BODY),
        ("", "oa-secret", BODY),
        (None, "oa-secret", BODY),
    ],
)
def test_verify_rejects_anything_else(header: str | None, secret: str, body: bytes) -> None:
    assert not verify_webhook_signature(header, "1234567890", body, "1700000000000", secret)


def test_appsecret_proof_matches_the_vector() -> None:
    assert appsecret_proof("app-secret", "AT-1") == PROOF


@pytest.mark.parametrize(
    "raw", ["0912 345 678", "+84912345678", "84912345678", "0084-912-345-678", "(091) 234.5678"]
)
def test_phone_normalize(raw: str) -> None:
    assert phone.normalize(raw) == "84912345678"


@pytest.mark.parametrize("raw", ["12345", "+1 415 555 0100", "84abc", ""])
def test_phone_normalize_rejects_foreign_or_junk(raw: str) -> None:
    with pytest.raises(ValueError):
        phone.normalize(raw)
