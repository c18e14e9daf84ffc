"""Stage 10: the gate. Successor and champion answer the same held-out test items at every
level; the successor is promoted only if `Gate.decide` says it is genuinely better.

Each verdict keeps the successor's per-item correctness ("1"/"0" per test item), so the next
generation compares against the champion's recorded answers instead of evaluating it again."""
from __future__ import annotations

from typing import Any

from pipeline.context import Context
from pipeline.evaluate import bits, correctness
from pipeline.gate import Gate
from pipeline.model import load
from pipeline.rundir import write_json
from pipeline.stages.base import Stage


class Verify(Stage):
    name = "verify"

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    def run(self, ctx: Context) -> dict[str, Any]:
        items = ctx.ladder("test")
        recorded = ctx.read("verify", "verdict.json", gen=ctx.champion_gen).get("successor_correct", "")
        if len(recorded) == len(items):
            champion = [bit == "1" for bit in recorded]
        else:  # a champion verdict without its answers (or with another ladder): evaluate it again
            champion = correctness(*load(ctx.champion_dir, ctx.device), ctx.task, items)
        successor = correctness(*load(ctx.out("train") / "model", ctx.device), ctx.task, items)
        verdict = self.gate.decide(items, champion, successor)
        write_json(ctx.out(self.name) / "verdict.json", {"champion_gen": ctx.champion_gen, **verdict.to_dict(), "successor_correct": bits(successor)})
        ctx.log({"verify/promoted": int(verdict.promoted), "verify/p_value": verdict.p_value, "verify/frontier": verdict.successor_frontier})
        return {"promoted": verdict.promoted, "p_value": verdict.p_value, "successor_frontier": verdict.successor_frontier}
