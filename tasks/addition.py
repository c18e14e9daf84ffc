"""Reversed addition, as in Lee et al. 2025 (arXiv 2502.01612).

Operands and sum are written least-significant digit first, the answer zero-padded to
max(len(a), len(b)) + 1 digits: 123 + 45 -> prompt "321+54=", answer "8610".
Writing digits in the order the carry flows lets a small model add left to right.
"""
from __future__ import annotations

import random

from tasks.base import Problem, Task, random_digits


def _operands(prompt: str) -> tuple[str, str]:
    """The two reversed operands of a prompt "a+b=", as written."""
    ra, rb = prompt.rstrip("=").split("+")
    return ra, rb


def _cut(prompt: str) -> tuple[int, str, str, str] | None:
    """Where `parts` cuts a problem (see there): (k, the low problem, the high problem or "" when only one operand
    reaches above the cut, that operand's digits above it padded to the answer's length or "" otherwise); None when
    no column allows a cut."""
    ra, rb = _operands(prompt)
    width = max(len(ra), len(rb))
    column = [int(x) + int(y) for x, y in zip(ra.ljust(width, "0"), rb.ljust(width, "0"))]
    k = min((k for k in range(1, width) if column[k - 1] <= 8), key=lambda k: max(k, width - k), default=None)
    if k is None:
        return None
    low = f"{ra[:k].rstrip('0') or '0'}+{rb[:k].rstrip('0') or '0'}="
    ha, hb = ra[k:], rb[k:]
    if ha and hb:
        return k, low, f"{ha}+{hb}=", ""
    return k, low, "", (ha or hb).ljust(width + 1 - k, "0")


class ReversedAddition(Task):
    alphabet = "0123456789+="

    def format(self, a: int, b: int) -> Problem:
        """The problem a + b in reversed notation."""
        prompt = f"{str(a)[::-1]}+{str(b)[::-1]}="
        return Problem(prompt, self.solve(prompt), max(len(str(a)), len(str(b))))

    def solve(self, prompt: str) -> str:
        ra, rb = _operands(prompt)
        total = int(ra[::-1]) + int(rb[::-1])
        return str(total)[::-1].ljust(max(len(ra), len(rb)) + 1, "0")

    def equivalents(self, prompt: str) -> list[str]:
        """Problems with this one's sum, written from its text alone: b + a, and the problem with each
        column's two digits moved into one operand (9 at most, the rest in the other), in both orders.
        A column's digit sum is unchanged, so every carry is the same and the model still has to make
        it; but the other operand keeps only the columns that sum to 10 or more, so it is often much
        shorter. Why: a model that has just learnt a level solves a short operand beside the long one
        long before two long ones (measured on one seed's champion at level 7: 1..4 + 7 digits 0.87-0.93,
        6 + 7 digits 0.18; the 6 + 7 and 7 + 7 problems whose moved form has a 1..4-digit operand, 0.89-0.97).
        The moves use only the one-digit sums, which every seed's ground truth holds (all 1 + 1 problems
        are level 1). A moved form is listed only when its short operand is shorter than the problem's."""
        ra, rb = _operands(prompt)
        forms = [f"{rb}+{ra}="] if ra != rb else []
        width = max(len(ra), len(rb))
        sums = [int(x) + int(y) for x, y in zip(ra.ljust(width, "0"), rb.ljust(width, "0"))]
        full = "".join(str(min(9, s)) for s in sums)
        rest = "".join(str(s - min(9, s)) for s in sums).rstrip("0") or "0"
        if len(rest) < min(len(ra), len(rb)):
            forms += [f"{full}+{rest}=", f"{rest}+{full}="]
        return forms

    def parts(self, prompt: str, answer: str) -> list[tuple[str, str]] | None:
        """The problem cut between two columns into a low and a high problem, each about half as long: 1,234,567
        + 7,654,321 cut below the thousands gives 567 + 321 and 1,234 + 7,654, and a right answer is the low
        problem's sum in its low digits and the high problem's above. The cut is below the column nearest
        the middle whose two digits sum to 8 or less, so no carry crosses it whatever comes from below (the
        one-digit sums, as for the moved forms); the low operands lose their leading zeros. When only one
        operand reaches above the cut, the high digits are that operand's own, with nothing to ask. Empty when
        no column allows a cut; None when `answer` is not a number of the right length or contradicts what needs no asking."""
        if not (self.well_formed(prompt, answer) and answer.isdigit()):
            return None
        cut = _cut(prompt)
        if cut is None:
            return []
        k, low_prompt, high_prompt, rest = cut
        low = int(answer[:k][::-1])
        n = self.answer_length(low_prompt)
        if len(str(low)) > n:  # more than the low operands can sum to
            return None
        out = [(low_prompt, str(low)[::-1].ljust(n, "0"))]
        if high_prompt:
            return out + [(high_prompt, answer[k:])]
        return out if answer[k:] == rest else None

    def pieces(self, prompt: str) -> list[str]:
        """The cut's problems that need asking (see `parts`): the low one, and the high one when both operands reach it."""
        cut = _cut(prompt)
        return [] if cut is None else [q for q in cut[1:3] if q]

    def join(self, prompt: str, answers: list[str]) -> str | None:
        """The answer that the pieces' answers make: the low sum's digits below the cut, the high problem's (or the
        longer operand's own digits) above. None when a piece's answer is not a number of its length, or the low
        sum carries over the cut."""
        cut = _cut(prompt)
        if cut is None:
            return None
        k, low_prompt, high_prompt, rest = cut
        pieces = [q for q in (low_prompt, high_prompt) if q]
        if len(answers) != len(pieces) or not all(self.well_formed(q, a) and a.isdigit() for q, a in zip(pieces, answers)):
            return None
        low = int(answers[0][::-1])
        if low >= 10**k:
            return None
        return str(low)[::-1].ljust(k, "0") + (answers[1] if high_prompt else rest)

    def stratum(self, prompt: str) -> str:
        """The operand lengths, shorter first: a 7-digit plus a 7-digit number is much harder for a
        length-generalising model than a 7-digit plus a 1-digit one, at the same level."""
        ra, rb = _operands(prompt)
        return "{}x{}".format(*sorted((len(ra), len(rb))))

    def answer_length(self, prompt: str) -> int:
        ra, rb = _operands(prompt)
        return max(len(ra), len(rb)) + 1

    def sample_mixed(self, max_level: int, rng: random.Random) -> Problem:
        """Lee et al.'s training distribution: each operand's length drawn independently from 1..N."""
        return self.format(*operands(mixed_lengths(max_level, rng), rng))

    def sample_level(self, level: int, rng: random.Random) -> Problem:
        """Lee et al.'s distribution conditioned on the longer operand having `level` digits."""
        return self.format(*operands(level_lengths(level, rng), rng))


def mixed_lengths(max_level: int, rng: random.Random) -> tuple[int, int]:
    """Two operand lengths, each uniform in 1..max_level (Lee et al.'s training distribution)."""
    return rng.randint(1, max_level), rng.randint(1, max_level)


def level_lengths(level: int, rng: random.Random) -> tuple[int, int]:
    """Two operand lengths from `mixed_lengths`, conditioned on the longer one being `level`."""
    while True:
        lengths = mixed_lengths(level, rng)
        if max(lengths) == level:
            return lengths


def operands(lengths: tuple[int, int], rng: random.Random) -> tuple[int, int]:
    """Two numbers with exactly these digit counts."""
    return int(random_digits(lengths[0], rng)), int(random_digits(lengths[1], rng))
