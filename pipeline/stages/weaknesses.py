"""Stage 1: where is the champion weak? Per-level accuracy on the dev ladder, its frontier, error kinds. The ladder
follows the champion: levels 1.. up to `eval.beyond` judged levels past its frontier (`Context.climb`).

Accuracy is what the run's scorer says: the true answers (counted as decided), or a label-free estimate
(`humans=none`), in which case the error kinds are only what the answers' shape shows."""
from __future__ import annotations

from typing import Any

from pipeline.core.context import Context
from pipeline.core import records
from pipeline.core.truth import DECIDE
from pipeline.ml.evaluate import counts, frontier, per_level
from pipeline.ml.model import load
from pipeline.ml.sampling import greedy
from pipeline.stages.base import Stage
from tasks import Problem


class Weaknesses(Stage):
    name = "weaknesses"

    def __init__(self, threshold: float = 0.9, min_items: int = 1) -> None:
        self.threshold, self.min_items = threshold, min_items

    def run(self, ctx: Context) -> dict[str, Any]:
        model, tok = load(ctx.champion_dir, ctx.device)
        answers: list[str] = []

        def score(level: list[Problem], _: int) -> list[list[bool]]:
            said = greedy(model, tok, [p.prompt for p in level])
            answers.extend(said)
            return [ctx.scorer.score(model, tok, ctx.task, level, said, ctx.check(DECIDE))]
        # the champion's ladder: levels up to `eval.beyond` past its frontier; the champion trained on rounds before this one
        items, (correct,) = ctx.climb("dev", score, self.threshold, self.min_items, through=ctx.gen - 1)
        acc = per_level(items, correct)
        front = frontier(acc, self.threshold, counts(items), self.min_items)
        errors: dict[int, records.LevelErrors] = {}
        for level in acc:
            at = [(p, a) for p, a, ok in zip(items, answers, correct) if p.level == level and not ok]
            malformed = sum(not ctx.task.well_formed(p.prompt, a) for p, a in at)
            shaped = [(p, a) for p, a in at if ctx.task.well_formed(p.prompt, a)]
            # where the scorer read true answers, how many digits are wrong (the same labels, counted once)
            truth = ctx.truth.answers([p for p, _ in shaped], DECIDE) if ctx.scorer.needs_answers else []
            wrong_digits = [sum(x != y for x, y in zip(a, t)) for (_, a), t in zip(shaped, truth)]
            errors[level] = records.LevelErrors(errors=len(at), malformed=malformed, wrong_digits=len(shaped),
                                        mean_digits_wrong=round(sum(wrong_digits) / len(wrong_digits), 2) if wrong_digits else 0.0)
        weak = [
            {"level": lv, "accuracy": acc[lv], "kind": "malformed" if errors[lv].malformed > errors[lv].wrong_digits else "wrong_digits"}
            for lv in acc
            if acc[lv] < self.threshold
        ]
        ctx.write(records.Weaknesses(champion_gen=ctx.champion_gen, threshold=self.threshold, frontier=front, per_level_accuracy=acc, errors=errors, weaknesses=weak))
        ctx.log({"weaknesses/frontier": front})
        nxt = acc.get(front + 1, 0.0)
        return {"frontier": front, f"acc@{front + 1}": round(nxt, 3)}
