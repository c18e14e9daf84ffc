"""The interface every task implements.

A task knows its difficulty levels (a level is a digit count), samples problems for a
level from a seeded generator, formats prompt and answer as text, and checks an answer
exactly. Nothing else in the pipeline knows what the problems mean.
"""
from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One item: the text the model sees, the ground-truth answer, and its level."""

    prompt: str
    answer: str
    level: int


class Task(ABC):
    """Base class: subclasses implement `_operands`/`solve` and a prompt format."""

    #: every character a prompt or answer may contain (the tokenizer is built from it)
    alphabet: str = "0123456789"

    @abstractmethod
    def sample_level(self, level: int, rng: random.Random) -> Problem:
        """One problem whose hardest part has exactly `level` digits."""

    @abstractmethod
    def solve(self, prompt: str) -> str:
        """The ground-truth answer for a prompt of this task."""

    def sample(self, level: int, n: int, rng: random.Random) -> list[Problem]:
        """`n` problems at exactly `level`, drawn from `rng`."""
        return [self.sample_level(level, rng) for _ in range(n)]

    def sample_upto(self, max_level: int, n: int, rng: random.Random) -> list[Problem]:
        """`n` problems from the training distribution over levels 1..max_level."""
        return [self.sample_mixed(max_level, rng) for _ in range(n)]

    def sample_mixed(self, max_level: int, rng: random.Random) -> Problem:
        """Default mixture: a level drawn uniformly. Tasks with their own recipe override it."""
        return self.sample_level(rng.randint(1, max_level), rng)

    def check(self, problem: Problem, answer: str) -> bool:
        """Exact match: the only notion of correct the pipeline uses."""
        return answer == problem.answer

    def well_formed(self, prompt: str, answer: str) -> bool:
        """Whether `answer` has the shape an answer to `prompt` must have (no ground truth)."""
        return len(answer) == self.answer_length(prompt) and all(c in self.alphabet for c in answer)

    def stratum(self, prompt: str) -> str:
        """Which kind of problem this is, finer than its level, so curation can cover every kind
        (for addition: the two operand lengths). By default the answer length."""
        return str(self.answer_length(prompt))

    def equivalents(self, prompt: str) -> list[str]:
        """Other prompts that must have the same answer (a symmetry of the task); none by default."""
        return []

    def parts(self, prompt: str, answer: str) -> list[tuple[str, str]] | None:
        """Shorter problems, each with the answer that `answer` implies for it, such that `answer` is right
        exactly when every implied answer is: a check of `answer` by easier problems. Empty when the
        problem cannot be cut (the default: a task without this structure); None when `answer` already
        contradicts what the cut knows. Read off the prompt and the answer alone."""
        return []

    def pieces(self, prompt: str) -> list[str]:
        """The shorter problems whose answers make this one's answer (`join`); none by default."""
        return []

    def join(self, prompt: str, answers: list[str]) -> str | None:
        """This problem's answer built from the answers to `pieces(prompt)`; None when they cannot make one."""
        return None

    @abstractmethod
    def answer_length(self, prompt: str) -> int:
        """How many characters a correct answer to `prompt` has, read off the prompt alone."""


def random_digits(length: int, rng: random.Random) -> str:
    """A number of exactly `length` digits, returned most-significant digit first."""
    if length == 1:
        return str(rng.randrange(10))
    return str(rng.randrange(10 ** (length - 1), 10**length))
