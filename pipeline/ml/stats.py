"""Exact binomial statistics: the McNemar test for paired models, Clopper-Pearson intervals for rates."""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from math import comb, exp, lgamma, log, log1p


def discordant(champion: list[bool], successor: list[bool]) -> tuple[int, int]:
    """(items only the successor gets right, items only the champion gets right)."""
    wins = sum(s and not c for c, s in zip(champion, successor))
    losses = sum(c and not s for c, s in zip(champion, successor))
    return wins, losses


def mcnemar_exact(wins: int, losses: int) -> float:
    """One-sided p-value that the successor is better: P(X >= wins), X ~ Binomial(wins + losses, 1/2).

    Only discordant pairs carry information about which model is better; with no
    discordant pairs there is no evidence either way and p = 1.
    """
    n = wins + losses
    if n == 0:
        return 1.0
    return sum(comb(n, k) for k in range(wins, n + 1)) / 2**n


@lru_cache(maxsize=4096)  # the gate asks the same few (k, n) again and again; simulations ask them thousands of times
def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact two-sided interval for a binomial rate after `k` hits in `n` draws.

    Each bound is where the binomial tail equals (1 - confidence) / 2, found by bisection
    (the tail is monotone in the rate); coverage is at least `confidence` for every true rate,
    which a 100-item spot-check needs (the normal approximation fails near 0 and 1).
    """
    if not 0 <= k <= n or n == 0:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    tail = (1 - confidence) / 2

    log_choose = [lgamma(n + 1) - lgamma(i + 1) - lgamma(n - i + 1) for i in range(n + 1)]

    def cdf(j: int, p: float) -> float:  # P(X <= j), X ~ Binomial(n, p), in log space (no overflow for large n), summed over the shorter side
        log_p, log_q = log(p), log1p(-p)
        terms = range(j + 1) if j < n / 2 else range(j + 1, n + 1)
        mass = sum(exp(log_choose[i] + i * log_p + (n - i) * log_q) for i in terms)
        return mass if j < n / 2 else 1 - mass

    def solve(f: Callable[[float], float]) -> float:  # the root of an increasing f on (0, 1)
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
        return (lo + hi) / 2

    lower = 0.0 if k == 0 else solve(lambda p: (1 - cdf(k - 1, p)) - tail)  # P(X >= k) = tail
    upper = 1.0 if k == n else solve(lambda p: tail - cdf(k, p))  # P(X <= k) = tail
    return lower, upper
