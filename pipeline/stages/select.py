"""Stage 6: choose this generation's recipe from the interpreted pilots.

A candidate is eligible when it carries none of the `exclude` flags and its gain over the champion's
recipe, measured seed by seed (pilots of one seed share their data, so their luck cancels), beats
`margin` x the spread of those paired gains; among the eligible, `GainPerCompute` takes the best
predicted gain per full-budget PFLOP and `BestGain` the largest gain. With nothing eligible the
champion's recipe stays: a difference within seed noise is no reason to change.
The choice is written with its recipe, so `ctx.recipe()` hands it to curate and train.
"""
from __future__ import annotations

from abc import abstractmethod
from dataclasses import replace
from typing import Any

from pipeline.components.proposers.base import CONTROL
from pipeline.core.context import Context
from pipeline.core.records import Built, Candidates, Interpretation, Ranked, Selected
from pipeline.stages.base import Stage


def gain_per_pflop(row: Ranked, gain: float) -> float:
    return gain / (row.full_flops / 1e15)


class Select(Stage):
    name = "select"
    vetoable = True
    #: what `score` ranks by, in words (for the reason)
    criterion: str

    def __init__(self, margin: float = 1.0, exclude: tuple[str, ...] = ("diverged", "rising_loss")) -> None:
        self.margin, self.exclude = margin, tuple(exclude)

    @abstractmethod
    def score(self, row: Ranked, gain: float) -> float:
        """Higher is better, among eligible candidates."""

    def choose(self, interp: Interpretation) -> tuple[Ranked | None, str]:
        """The chosen row of interpretation.json (None: no champion pilot and nothing eligible) and why."""
        rows = interp.ranked
        control = next((r for r in rows if r.id == CONTROL), None)
        if control is None:
            return None, "no pilot of the champion's recipe to compare with: keeping the champion's recipe"
        others = [r for r in rows if r.id != CONTROL]
        eligible = [r for r in others if not set(r.flags) & set(self.exclude) and r.gain > self.margin * r.gain_noise]
        if not eligible:
            reason = "no candidate's gain over the champion's recipe (seed by seed) beats its seed spread"
            best = max(others, key=lambda r: r.gain, default=None)
            if best:
                reason += (f"; best other: '{best.id}' at {best.gain:+.3f} +- {best.gain_noise:.3f}"
                           f" (flags: {', '.join(best.flags) or 'none'})")
            return control, reason + ": keeping the champion's recipe"
        pick = max(eligible, key=lambda r: self.score(r, r.gain))
        return pick, (
            f"'{pick.id}' beat the champion's recipe by {pick.gain:+.3f} +- {pick.gain_noise:.3f} at level "
            f"{interp.target_level}, seed by seed (dev accuracy {pick.acc_mean:.3f} vs {control.acc_mean:.3f}); "
            f"best {self.criterion} of {len(eligible)} eligible ({gain_per_pflop(pick, pick.gain):.1f} per PFLOP)"
        )

    def run(self, ctx: Context) -> dict[str, Any]:
        interp = ctx.read(Interpretation)
        built = {b.id: b for b in ctx.read(Built).built}
        row, reason = self.choose(interp)
        cid = row.id if row else CONTROL
        recipe = built[cid].recipe if cid in built else ctx.champion_recipe()
        control = next((r for r in interp.ranked if r.id == CONTROL), None)
        gain = row.gain if row else 0.0
        proposals = ctx.maybe(Candidates)
        rationale = {c.id: c.rationale for c in proposals.candidates} if proposals is not None else {}
        ctx.write(Selected(id=cid, recipe=recipe, rationale=rationale.get(cid, ""), reason=reason, predicted_gain=gain,
                           champion_accuracy=control.acc_mean if control else None,
                           gain_per_pflop=gain_per_pflop(row, gain) if row else 0.0, criterion=self.criterion))
        ctx.log({"select/predicted_gain": gain, "select/changed": int(cid != CONTROL)})
        return {"selected": cid, "predicted_gain": round(gain, 4)}

    def decision(self, ctx: Context, summary: dict[str, Any]) -> list[str]:
        """The chosen recipe, why, and what it changes from the champion's."""
        selected = ctx.read(Selected)
        base = ctx.champion_recipe()
        changes = ", ".join(f"{k} {getattr(base, k)} -> {v}" for k, v in selected.recipe.to_json().items() if getattr(base, k) != v)
        return [f"recipe '{selected.id}' (predicted gain {selected.predicted_gain:+.4f})",
                f"why: {selected.reason}", f"changes from the champion's recipe: {changes or 'none'}"]

    def veto(self, ctx: Context, summary: dict[str, Any]) -> dict[str, Any]:
        """Keep the champion's recipe: `ctx.recipe()` then hands it to curate and train."""
        selected = ctx.read(Selected)
        ctx.write(replace(selected, id=CONTROL, recipe=ctx.champion_recipe(), rationale="the champion's recipe",
                          reason=f"'{selected.id}' vetoed by a human: keeping the champion's recipe", predicted_gain=0.0, gain_per_pflop=0.0))
        return {**summary, "selected": CONTROL, "predicted_gain": 0.0}


class GainPerCompute(Select):
    """The most predicted gain per PFLOP of full-budget training."""

    criterion = "gain per compute"

    def score(self, row: Ranked, gain: float) -> float:
        return gain_per_pflop(row, gain)


class BestGain(Select):
    """The largest gain, whatever it costs."""

    criterion = "gain"

    def score(self, row: Ranked, gain: float) -> float:
        return gain
