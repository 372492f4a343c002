"""Exponential back-off with jitter, capped (a PACS outage must not make retries hours apart)."""

from __future__ import annotations

import random


def backoff_delay(attempt: int, initial_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Delay after failed attempt ``attempt`` (>= 1): initial·2^(attempt-1), ±20 % jitter, capped."""
    base = min(max_s, initial_s * (2 ** max(0, attempt - 1)))
    jitter = (rng or random).uniform(0.8, 1.2)
    return min(max_s, base * jitter)
