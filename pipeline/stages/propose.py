"""Stage 2: what to try. The proposer turns the weaknesses report into K candidate recipes,
the champion's own recipe first as the control."""
from __future__ import annotations

from typing import Any

from pipeline.components.proposers import Proposer
from pipeline.core.context import Context
from pipeline.core.records import Candidates, Weaknesses
from pipeline.stages.base import Stage


class Propose(Stage):
    name = "propose"

    def __init__(self, proposer: Proposer, k: int = 3) -> None:
        self.proposer, self.k = proposer, k

    def run(self, ctx: Context) -> dict[str, Any]:
        report = ctx.read(Weaknesses)
        earlier = (ctx.maybe(Weaknesses, g) for g in range(1, ctx.gen))
        history = [w for w in earlier if w is not None]  # "frontier stuck" needs the past reports
        champion = ctx.champion_recipe()
        candidates = self.proposer.propose(report, champion, history, self.k, seed=ctx.cfg.seed * 1000 + ctx.gen)
        ctx.write(Candidates(champion_recipe=champion, weaknesses=report.weaknesses, candidates=candidates))
        ctx.log({"propose/candidates": len(candidates)})
        return {"candidates": len(candidates)}
