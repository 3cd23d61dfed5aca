"""Vietnamese phone numbers in the ``84...`` form ZNS wants."""

from __future__ import annotations

import re

ZNS_PHONE = re.compile(r"^84\d{9,10}$")
_SEPARATORS = re.compile(r"[\s.\-()]")


def normalize(phone: str) -> str:
    """``0912 345 678``, ``+84912345678`` and ``0084...`` all become ``84912345678``.

    Raises ``ValueError`` for anything that is not a Vietnamese number.
    """
    digits = _SEPARATORS.sub("", phone)
    if digits.startswith("+"):
        digits = digits[1:]
    elif digits.startswith("00"):
        digits = digits[2:]
    elif digits.startswith("0"):
        digits = "84" + digits[1:]
    if not ZNS_PHONE.fullmatch(digits):
        raise ValueError(f"not a Vietnamese phone number: {phone!r}")
    return digits
