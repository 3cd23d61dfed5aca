"""Text folding for `search`: lower case, Vietnamese diacritics removed (đ → d)."""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable

_EXTRA = str.maketrans({"đ": "d", "Đ": "d", "ð": "d"})


@functools.lru_cache(maxsize=65_536)  # names, places and levels repeat across rows
def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.translate(_EXTRA))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(unicodedata.normalize("NFC", stripped).lower().split())


def keyword(values: Iterable[object]) -> str | None:
    parts = [fold(str(v)) for v in values if v not in (None, "")]
    return " ".join(p for p in parts if p) or None
