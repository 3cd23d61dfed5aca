"""Client-side rate limiting: one token bucket per key (a Zalo app, per host)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    capacity: float
    tokens: float
    updated: float
    blocked_until: float = 0.0
    window_started: float | None = None
    last_remain: int | None = None


class RateLimiter:
    """``per_window`` calls per ``window_seconds`` for each key, tightened by Zalo's headers.

    Zalo reports ``X-RateLimit-Limit`` and ``X-RateLimit-Remain`` on its answers; a lower limit
    shrinks the bucket, and a remain of 0 holds the key until the window that began with the
    first call seen in it has passed.
    """

    def __init__(
        self,
        per_window: int,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_window <= 0 or window_seconds <= 0:
            raise ValueError("rate limit and window must be positive")
        self._per_window = float(per_window)
        self._window = window_seconds
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, key: str) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            now = self._clock()
            bucket = _Bucket(capacity=self._per_window, tokens=self._per_window, updated=now)
            self._buckets[key] = bucket
        return bucket

    def _refill(self, bucket: _Bucket, now: float) -> None:
        rate = bucket.capacity / self._window
        bucket.tokens = min(bucket.capacity, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now

    async def acquire(self, key: str) -> None:
        bucket = self._bucket(key)
        while True:
            now = self._clock()
            self._refill(bucket, now)
            if now < bucket.blocked_until:
                await asyncio.sleep(bucket.blocked_until - now)
                continue
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return
            await asyncio.sleep((1 - bucket.tokens) * self._window / bucket.capacity)

    def observe(self, key: str, limit: int | None, remain: int | None) -> None:
        """Take in the rate-limit headers of one answer for ``key``."""
        bucket = self._bucket(key)
        now = self._clock()
        self._refill(bucket, now)
        if limit is not None and 0 < limit < bucket.capacity:
            bucket.capacity = float(limit)
            bucket.tokens = min(bucket.tokens, bucket.capacity)
        if remain is None:
            return
        # A remain that jumped up means a new window began (as does the first answer, or a
        # window's worth of time); the window started no later than now, so now + window is a
        # safe end for it. Answers of concurrent calls arrive out of order, and refusals keep
        # answering 0, so a remain that merely ticks up or stays is the same window: taking
        # those for new windows pushed the end of the block later with every answer.
        new_window = (
            bucket.last_remain is None
            or bucket.window_started is None
            or now - bucket.window_started >= self._window
            or remain > bucket.last_remain + max(1.0, bucket.capacity / 10)
        )
        if new_window:
            bucket.window_started = now
            bucket.last_remain = remain
        else:
            bucket.last_remain = min(bucket.last_remain or 0, remain)
        bucket.tokens = min(bucket.tokens, float(max(remain, 0)))
        if remain <= 0:
            started = bucket.window_started if bucket.window_started is not None else now
            bucket.blocked_until = max(bucket.blocked_until, started + self._window)
