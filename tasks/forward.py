"""Addition written the usual way, most significant digit first (Lee et al. 2025's "forward addition").

123 + 45 -> prompt "123+45=", answer "0168": the sum zero-padded to max(len(a), len(b)) + 1 digits, so the answer's
length is read off the prompt (the format a length filter checks), as in reversed addition. Harder than the reversed
form for a left-to-right decoder: the first digit it writes depends on a carry that may come from the last column.
"""
from __future__ import annotations

import random

from tasks.addition import level_lengths, mixed_lengths, operands
from tasks.base import Problem, Task


def _operands(prompt: str) -> tuple[str, str]:
    a, b = prompt.rstrip("=").split("+")
    return a, b


class ForwardAddition(Task):
    alphabet = "0123456789+="

    def format(self, a: int, b: int) -> Problem:
        """The problem a + b in the usual notation."""
        prompt = f"{a}+{b}="
        return Problem(prompt, self.solve(prompt), max(len(str(a)), len(str(b))))

    def solve(self, prompt: str) -> str:
        a, b = _operands(prompt)
        return str(int(a) + int(b)).zfill(self.answer_length(prompt))

    def answer_length(self, prompt: str) -> int:
        a, b = _operands(prompt)
        return max(len(a), len(b)) + 1

    def stratum(self, prompt: str) -> str:
        """The operand lengths, shorter first (as for reversed addition)."""
        a, b = _operands(prompt)
        return "{}x{}".format(*sorted((len(a), len(b))))

    def sample_mixed(self, max_level: int, rng: random.Random) -> Problem:
        return self.format(*operands(mixed_lengths(max_level, rng), rng))

    def sample_level(self, level: int, rng: random.Random) -> Problem:
        return self.format(*operands(level_lengths(level, rng), rng))
