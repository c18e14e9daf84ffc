"""Stage 10: the gate. Successor and champion answer the same held-out test items at every
level; the successor is promoted only if `Gate.decide` says it is genuinely better. Which answers
are right is the run's scorer's call: the true answers (counted), or a label-free estimate.

Each verdict keeps the successor's per-item correctness ("1"/"0" per test item) with the device
type, dtype and scorer it was computed with, so the next generation compares against the champion's
recorded answers instead of evaluating it again, but only when they were computed the same way
(a bf16 GPU answer and an fp32 CPU answer can differ on the same item).

`AlwaysPromote` (`stage/verify=always`) measures exactly as the gate does and promotes every successor:
no safeguard, so a collapse shows in its verdicts instead of being stopped. `Controlled` (`stage/verify=controlled`)
asks more: the successor must also beat the same training without this generation's round.

Each decision is tested at its level in the run (`Gate.level`: the gate's `correction` spreads alpha over the run's
decisions, read back from the earlier verdicts), and holds the mastered levels to the best any champion of the run
showed on this ladder (their recorded answers). Only this stage (and the seed's first verdict) reads the test ladder, and
it climbs it as far as the two models need: a level past both frontiers by `eval.beyond`, at most the cap (`eval.max_level`)."""
from __future__ import annotations

from dataclasses import asdict, replace
from functools import cache, partial
from typing import Any

from pipeline.components.gate import Decision, Gate
from pipeline.core import records
from pipeline.core.context import Context
from pipeline.core.device import precision
from pipeline.core.rundir import atomic_dir
from pipeline.core.truth import DECIDE, MEASURE
from pipeline.ml.evaluate import bits, recorded_or
from pipeline.ml.fitting import earlier_sources, generation_seed, starting_point, train_recipe
from pipeline.ml.model import load, save
from pipeline.stages.base import Stage
from tasks import Problem


def provenance(ctx: Context) -> dict[str, str]:
    """How answers were computed and scored: recorded in a verdict next to `successor_correct`."""
    return {"device": ctx.device.type, "dtype": precision(ctx.device), "scorer": type(ctx.scorer).__name__}


def shown(ctx: Context, items: list[Problem]) -> dict[int, int]:
    """The most right answers the run's champions showed at each level of `items`, by their verdicts' recorded answers."""
    return ctx.shown(lambda gen: ctx.read(records.Verdict, gen=gen).successor_correct, items)


class Verify(Stage):
    name = "verify"
    vetoable = True
    use = DECIDE  # the test ladder's true answers decide the promotion

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    def run(self, ctx: Context) -> dict[str, Any]:
        items, (champion, successor) = self.answers(ctx)
        verdict = self.decide(items, champion, successor, self.level(ctx), shown(ctx, items))
        return self.record(ctx, verdict, successor, ctx.champion_gen)

    def level(self, ctx: Context) -> float:
        """This decision's significance level, after the run's earlier decisions (every generation with a verdict)."""
        verdicts = (ctx.maybe(records.Verdict, g) for g in range(1, ctx.gen))
        return self.gate.level([v.p_value for v in verdicts if v is not None])

    def answers(self, ctx: Context) -> tuple[list[Problem], tuple[list[bool], list[bool]]]:
        """The test ladder, climbed until champion and successor are both past their frontiers (`Context.climb`), and
        per-item correctness of the champion (its recorded answers where they cover a level and were computed the same
        way) and of the successor."""
        recorded = ctx.read(records.Verdict, gen=ctx.champion_gen)
        # the champion's own ladder, where it holds a level and was computed the same way (device, dtype, scorer)
        champion_bits = (recorded.successor_correct or "") if recorded.computed() == provenance(ctx) else ""
        champion_model, successor_model = (cache(partial(load, folder, ctx.device)) for folder in (ctx.champion_dir, ctx.out("train") / "model"))
        champion = recorded_or(champion_bits, lambda items: ctx.correctness(*champion_model(), items, self.use))

        def score(items: list[Problem], offset: int) -> list[list[bool]]:
            return [champion(items, offset), ctx.correctness(*successor_model(), items, self.use)]

        items, (champion, successor) = ctx.climb("test", score, self.gate.threshold, self.gate.min_items, models=2)
        return items, (champion, successor)

    def decide(self, items: list[Problem], champion: list[bool], successor: list[bool], alpha: float, earlier: dict[int, int]) -> Decision:
        """The verdict on per-item correctness of both models at level `alpha`, the mastered levels held to what the
        run's champions showed (`earlier`): the gate's."""
        return self.gate.decide(items, champion, successor, alpha, earlier)

    def first(self, ctx: Context) -> dict[str, Any]:
        """Generation 0: the seed has no champion to beat; its verdict records what it scores."""
        model, tok = load(ctx.out("train") / "model", ctx.device)
        items, (successor,) = ctx.climb("test", lambda level, _: [ctx.correctness(model, tok, level, MEASURE)],  # no decision: the seed is the first champion
                                        self.gate.threshold, self.gate.min_items)
        return self.record(ctx, self.gate.first(items, successor), successor, None)

    def record(self, ctx: Context, verdict: Decision, successor: list[bool], champion_gen: int | None,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write verdict.json with the successor's per-item answers and the device and dtype they were
        computed with (the next gate reuses them only on the same kind of device), and a variant's `extra` fields."""
        ctx.write(records.Verdict(**asdict(verdict), champion_gen=champion_gen, successor_correct=bits(successor), **provenance(ctx),
                                  details=extra or {}))
        ctx.log({"verify/promoted": int(verdict.promoted), "verify/frontier": verdict.successor_frontier}
                | ({} if verdict.p_value is None else {"verify/p_value": verdict.p_value}))
        return {"promoted": verdict.promoted, "p_value": verdict.p_value, "successor_frontier": verdict.successor_frontier}

    def decision(self, ctx: Context, summary: dict[str, Any]) -> list[str]:
        """The gate's verdict and its reason."""
        verdict = ctx.read(records.Verdict)
        return [f"{'promote' if verdict.promoted else 'reject'} the successor: {verdict.reason}",
                f"p={verdict.p_value} at level {verdict.alpha:.3g}, frontier {verdict.champion_frontier} -> {verdict.successor_frontier}"]

    def veto(self, ctx: Context, summary: dict[str, Any]) -> dict[str, Any]:
        """Reject the successor whatever the gate said: the champion stays."""
        verdict = ctx.read(records.Verdict)
        ctx.write(replace(verdict, promoted=False, reason=f"promotion vetoed by a human (the gate: {verdict.reason})"))
        return {**summary, "promoted": False}


class AlwaysPromote(Verify):
    """No gate (the collapse regime): every successor replaces the champion. Both models are still
    measured on the test ladder and the gate's own verdict is kept in the reason, so the verdict
    records what the successor lost. Its reads of true answers decide nothing: counted as measured."""

    use = MEASURE

    def decide(self, items: list[Problem], champion: list[bool], successor: list[bool], alpha: float, earlier: dict[int, int]) -> Decision:
        verdict = self.gate.decide(items, champion, successor, alpha, earlier)
        return replace(verdict, promoted=True, reason=f"always promoted (stage/verify=always); the gate would have "
                                                      f"{'promoted' if verdict.promoted else 'rejected'} it: {verdict.reason}")


class Controlled(Verify):
    """The gate, then a control (`stage/verify=controlled`): the same recipe, from the same start and with the same
    seed, trained on the earlier data alone: what this generation would have given with an empty round (with new_share
    1 an empty round gives no successor; the control still trains on the earlier data). A successor the gate promotes
    must also beat the control by the gate's own rule, so a gain that more training on the earlier data gives by
    itself (a seed still learning its own levels) is not taken for the round's. The control trains every step of the
    recipe, even where `stage/train=until_learned` stopped the successor sooner: at least the successor's training, so
    the comparison never favours the round. It costs one more training whenever the gate promotes; the control's weights
    are kept (`verify/control`) so that the shadow audit can ask the same question on its own items."""

    def run(self, ctx: Context) -> dict[str, Any]:
        items, (champion, successor) = self.answers(ctx)
        alpha, earlier = self.level(ctx), shown(ctx, items)
        verdict = self.decide(items, champion, successor, alpha, earlier)
        if not verdict.promoted:
            return self.record(ctx, verdict, successor, ctx.champion_gen)
        recipe = ctx.recipe()
        model, tok = starting_point(ctx, recipe)
        train_recipe(model, earlier_sources(ctx, tok, 1.0), recipe.to_json(), generation_seed(ctx), description=f"gen {ctx.gen} control")
        with atomic_dir(ctx.out(self.name) / "control") as tmp:
            save(model, tok, tmp)
        control = ctx.correctness(model, tok, items, self.use)
        against = self.gate.decide(items, control, successor, alpha, earlier)
        if not against.promoted:
            verdict = replace(verdict, promoted=False, reason=f"better than the champion ({verdict.reason}), but not than the same "
                                                              f"training on the earlier data alone: {against.reason}")
        return self.record(ctx, verdict, successor, ctx.champion_gen, {"control": {
            "reason": against.reason, "p_value": against.p_value, "wins": against.wins, "losses": against.losses,
            "frontier": against.champion_frontier, "accuracy": against.champion_accuracy, "correct": bits(control)}})
