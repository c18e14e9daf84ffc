"""Copy or reverse a digit string: the second task, to show the interface is general.

Prompt "R1234=" asks for "4321"; "C1234=" asks for "1234". The level is the string's length.
"""
from __future__ import annotations

import random

from tasks.base import Problem, Task


class StringTransform(Task):
    alphabet = "0123456789CR="

    def __init__(self, mode: str = "reverse") -> None:
        if mode not in ("copy", "reverse"):
            raise ValueError(f"mode must be 'copy' or 'reverse', got {mode!r}")
        self.mode = mode
        self.tag = "C" if mode == "copy" else "R"

    def sample_level(self, level: int, rng: random.Random) -> Problem:
        digits = "".join(rng.choice("0123456789") for _ in range(level))
        prompt = f"{self.tag}{digits}="
        return Problem(prompt, self.solve(prompt), level)

    def solve(self, prompt: str) -> str:
        digits = prompt[1:].rstrip("=")
        return digits if prompt[0] == "C" else digits[::-1]

    def answer_length(self, prompt: str) -> int:
        return len(prompt) - 2
