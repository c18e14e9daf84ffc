"""The baseline: the champion's recipe and nothing else, to show what the research stages buy."""
from __future__ import annotations

from collections.abc import Iterable

from pipeline.components.proposers.base import Proposer
from pipeline.core.records import Candidate, Recipe, Weaknesses


class FixedProposer(Proposer):
    def ideas(self, report: Weaknesses, champion: Recipe, history: list[Weaknesses], seed: int) -> Iterable[Candidate]:
        return []
