"""The rate limiter's idea of Zalo's window, from the X-RateLimit headers."""

from __future__ import annotations

from zalo.limiter import RateLimiter


def test_out_of_order_and_refused_answers_keep_the_window() -> None:
    """Concurrent answers arrive out of order and refusals keep answering 0: neither starts
    a new window, so the key is held until the end of the window that began first."""
    now = [0.0]
    limiter = RateLimiter(100, window_seconds=60, clock=lambda: now[0])
    for at, remain in ((0.0, 99), (5.0, 50), (5.1, 52), (10.0, 0), (11.0, 0), (12.0, 1)):
        now[0] = at
        limiter.observe("app", limit=100, remain=remain)
    assert limiter._buckets["app"].blocked_until == 60.0

    now[0] = 60.5  # the next window: remain jumps back up
    limiter.observe("app", limit=100, remain=99)
    for remain in (40, 0):
        limiter.observe("app", limit=100, remain=remain)
    assert limiter._buckets["app"].blocked_until == 120.5
