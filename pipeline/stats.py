"""Paired comparison of two models on the same items: the exact McNemar test."""
from __future__ import annotations

from math import comb


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
