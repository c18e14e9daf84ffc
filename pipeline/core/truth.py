"""The one counted path to ground truth: every true answer the loop reads comes from `Truth`.

Ground truth past the seed is what an autonomous system would not have, so each read is counted by
generation, stage, level and use: a read that **decides** something (a frontier, a pilot score, a
review block, a gate verdict) or one that only **measures** it for the report (judge precision).
A prompt read for both counts as decided. The seed (generation 0) is the human-made input and is
counted there; the shadow audit (stage `audit`) measures what no stage reads. Past the seed, only
the stages in `readers` may read (`humans=none`: none; reading anyway raises `TruthForbidden`).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from typing import Any

from tasks import Problem, Task

DECIDE, MEASURE = "decide", "measure"
#: the stage names whose reads are always allowed: the seed's own (human-made) phase and the shadow audit
SEED, AUDIT = "seed", "audit"
_reading: ContextVar[bool] = ContextVar("reading_ground_truth", default=False)


class TruthForbidden(RuntimeError):
    """A stage read a true answer that the run's `humans` mode does not allow it."""


def reading() -> bool:
    """Whether the current code runs inside a permitted, counted read (tests poison every other read)."""
    return _reading.get()


class Truth:
    """Hands out true answers and counts them; `readers` None allows every stage."""

    def __init__(self, task: Task, readers: Iterable[str] | None = None, mode: str = "all") -> None:
        self.task, self.readers, self.mode = task, None if readers is None else set(readers), mode
        self.gen, self.stage = 0, SEED
        self._reads: dict[str, dict[str, int]] = {DECIDE: {}, MEASURE: {}}

    def at(self, gen: int, stage: str) -> None:
        """Count the next reads for `stage` of generation `gen` (the counts start empty)."""
        self.gen, self.stage = gen, stage
        self._reads = {DECIDE: {}, MEASURE: {}}

    def allowed(self) -> bool:
        """Whether the current stage may read ground truth in this mode."""
        return self.gen == 0 or self.stage == AUDIT or self.readers is None or self.stage in self.readers

    def answers(self, problems: Sequence[Problem], use: str) -> list[str]:
        """The true answer of each problem, counted under `use` (DECIDE or MEASURE)."""
        if use not in (DECIDE, MEASURE):
            raise ValueError(f"use must be '{DECIDE}' or '{MEASURE}', got {use!r}")
        if problems and not self.allowed():
            raise TruthForbidden(f"generation {self.gen} stage '{self.stage}' tried to read {len(problems)} ground-truth answers, "
                                 f"which humans={self.mode} forbids past the seed; use a label-free implementation of this stage")
        self.record(problems, use)
        token = _reading.set(True)
        try:
            return [self.task.solve(p.prompt) for p in problems]
        finally:
            _reading.reset(token)

    def correct(self, problems: Sequence[Problem], answers: Sequence[str], use: str) -> list[bool]:
        """Whether each answer is exactly right (the pipeline's only notion of correct)."""
        return [a == t for a, t in zip(answers, self.answers(problems, use))]

    def record(self, problems: Iterable[Problem], use: str) -> None:
        """Count labels read elsewhere for this stage (a cached seed's data was read when it was made)."""
        seen = self._reads[use]
        for p in problems:
            seen[p.prompt] = p.level

    def counts(self) -> dict[str, Any]:
        """This stage's distinct labels read, per use and level; a prompt read to decide is not also counted as measured."""
        decided = self._reads[DECIDE]
        measured = {p: lv for p, lv in self._reads[MEASURE].items() if p not in decided}
        return {"decided": _by_level(decided), "measured": _by_level(measured)}


def _by_level(reads: dict[str, int]) -> dict[str, int]:
    out: dict[int, int] = {}
    for level in reads.values():
        out[level] = out.get(level, 0) + 1
    return {str(lv): n for lv, n in sorted(out.items())}


def total(counts: dict[str, int]) -> int:
    return sum(counts.values())
