"""The baseline: the champion's recipe and nothing else, to show what the research stages buy."""
from __future__ import annotations

from collections.abc import Iterable

from pipeline.components.proposers.base import Candidate, Proposer, Recipe, Report


class FixedProposer(Proposer):
    def ideas(self, report: Report, champion: Recipe, history: list[Report], seed: int) -> Iterable[Candidate]:
        return []
