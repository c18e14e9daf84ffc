"""Reversed addition, as in Lee et al. 2025 (arXiv 2502.01612).

Operands and sum are written least-significant digit first, the answer zero-padded to
max(len(a), len(b)) + 1 digits: 123 + 45 -> prompt "321+54=", answer "8610".
Writing digits in the order the carry flows lets a small model add left to right.
"""
from __future__ import annotations

import random

from tasks.base import Problem, Task, random_digits


class ReversedAddition(Task):
    alphabet = "0123456789+="

    def format(self, a: int, b: int) -> Problem:
        """The problem a + b in reversed notation."""
        prompt = f"{str(a)[::-1]}+{str(b)[::-1]}="
        return Problem(prompt, self.solve(prompt), max(len(str(a)), len(str(b))))

    def solve(self, prompt: str) -> str:
        ra, rb = prompt.rstrip("=").split("+")
        total = int(ra[::-1]) + int(rb[::-1])
        return str(total)[::-1].ljust(max(len(ra), len(rb)) + 1, "0")

    def equivalents(self, prompt: str) -> list[str]:
        """a + b = b + a: the swapped problem has the same answer."""
        ra, rb = prompt.rstrip("=").split("+")
        return [f"{rb}+{ra}="] if ra != rb else []

    def stratum(self, prompt: str) -> str:
        """The operand lengths, shorter first: a 7-digit plus a 7-digit number is much harder for a
        length-generalising model than a 7-digit plus a 1-digit one, at the same level."""
        ra, rb = prompt.rstrip("=").split("+")
        return "{}x{}".format(*sorted((len(ra), len(rb))))

    def answer_length(self, prompt: str) -> int:
        ra, rb = prompt.rstrip("=").split("+")
        return max(len(ra), len(rb)) + 1

    def _pair(self, len_a: int, len_b: int, rng: random.Random) -> Problem:
        return self.format(int(random_digits(len_a, rng)), int(random_digits(len_b, rng)))

    def sample_mixed(self, max_level: int, rng: random.Random) -> Problem:
        """Lee et al.'s training distribution: each operand's length drawn independently from 1..N."""
        return self._pair(rng.randint(1, max_level), rng.randint(1, max_level), rng)

    def sample_level(self, level: int, rng: random.Random) -> Problem:
        """Lee et al.'s distribution conditioned on the longer operand having `level` digits."""
        while True:
            len_a, len_b = rng.randint(1, level), rng.randint(1, level)
            if max(len_a, len_b) == level:
                return self._pair(len_a, len_b, rng)
