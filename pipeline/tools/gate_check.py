"""`python -m pipeline.tools.gate_check`: how often the gate is wrong, measured by simulation at the default sizes.

The test ladder is the real one of the composed config (task, splits, items per level), so small levels have the items
they really have (1-digit addition: 13). A champion answers each item correctly with its level's accuracy (`PROFILE`,
like the default run's: levels 1..6 mastered at 99%, level 7 at 85%). A successor keeps the champion's answers but for
a share `redraw` it draws again (10%: a fine-tuned successor; 100%: an independent model), then turns wrong answers
right (or right ones wrong) where its accuracy is above (below) the champion's.

One decision (the default), the first of a run:
- false promotion: an equal successor promoted (at most alpha);
- not held: an equal successor refused for a mastered level;
- power: a successor 5 points better at the gate level promoted, and how often such a good successor is refused for
  a mastered level it holds as well as the champion does.

Whole runs (`--runs`): chains of `--generations` successors, each made from the champion of the moment and decided at
its level in the run, against the best champions of the run:
- run-wise false promotion: runs of equal successors (10% and 30% redrawn) or slightly worse ones (1 point lower at
  every level) that promote at least once;
- power: the share of decisions that promote successors 3, 5 and 10 points better at the gate level, and the share
  refused for a mastered level;
- drift: successors 5 points better at the gate level that lose 1.5 points a generation on level 3: promotions, and
  level 3's true accuracy at the end.
Each row compares the per-champion rule (no run-wise correction, no reference: every decision at alpha, and a mastered
level fails only when it drops more than 2 points below the champion's, significantly: exact McNemar, Bonferroni) with
the run-wise gate as configured.

    python -m pipeline.tools.gate_check [--trials 2000] [--runs] [--generations 8] [overrides ...]
"""
from __future__ import annotations

import argparse
import random
from collections.abc import Callable

from pipeline.components.gate import Gate, most, right
from pipeline.core import plugins
from pipeline.core.compose import compose_config
from pipeline.ml.evaluate import counts, frontier, per_level
from pipeline.ml.splits import Splits
from pipeline.ml.stats import discordant, mcnemar_exact
from tasks import Problem

PER_CHAMPION_TOLERANCE = 0.02  # a smaller drop of a mastered level the per-champion rule does not test
PROFILE = {1: 0.99, 2: 0.99, 3: 0.99, 4: 0.99, 5: 0.99, 6: 0.99, 7: 0.85, 8: 0.3, 9: 0.05, 10: 0.0}
#: a rule's answer on one decision: (promoted, p-value, refused for a mastered level)
Decision = tuple[bool, float, bool]
#: decides between champion and successor answers, given the run's earlier p-values and the most right answers its champions had per level
Rule = Callable[[list[bool], list[bool], list[float], dict[int, int]], Decision]
#: the successor's true accuracy per level from the champion's and the champion's gate level
Change = Callable[[dict[int, float], int], dict[int, float]]


def per_champion(gate: Gate, items: list[Problem]) -> Rule:
    """Each decision alone against its champion: alpha at every decision, a mastered level fails on a significant drop
    of more than `PER_CHAMPION_TOLERANCE` below the champion's."""
    where: dict[int, list[int]] = {}
    for i, q in enumerate(items):
        where.setdefault(q.level, []).append(i)
    sizes = counts(items)

    def decide(champion: list[bool], successor: list[bool], earlier: list[float], shown: dict[int, int]) -> Decision:
        acc_c, acc_s = per_level(items, champion), per_level(items, successor)
        f_c = frontier(acc_c, gate.threshold, sizes, gate.min_items)
        at = [i for lv in range(f_c + 1, f_c + 1 + gate.window) for i in where.get(lv, [])]
        wins, losses = discordant([champion[i] for i in at], [successor[i] for i in at])
        p = mcnemar_exact(wins, losses)
        regressed = False
        for lv in range(1, f_c + 1):
            if lv in acc_c and acc_c[lv] - acc_s[lv] > PER_CHAMPION_TOLERANCE:
                gains, lost = discordant([champion[i] for i in where[lv]], [successor[i] for i in where[lv]])
                regressed = regressed or mcnemar_exact(lost, gains) < gate.regression_alpha / f_c
        return bool(at) and not regressed and wins > losses and p < gate.alpha, p, regressed
    return decide


def run_wise(gate: Gate, items: list[Problem]) -> Rule:
    """The gate as it is: the decision's level in the run, the mastered levels held against the run's best champions."""
    def decide(champion: list[bool], successor: list[bool], earlier: list[float], shown: dict[int, int]) -> Decision:
        verdict = gate.decide(items, champion, successor, gate.level(earlier), shown)
        return verdict.promoted, verdict.p_value, bool(verdict.regressions)
    return decide


def draw(items: list[Problem], accuracy: dict[int, float], rng: random.Random) -> list[bool]:
    """Answers right with each level's accuracy."""
    return [rng.random() < accuracy.get(p.level, 0.0) for p in items]


def successor_of(items: list[Problem], champion: list[bool], acc_c: dict[int, float], acc_s: dict[int, float], redraw: float,
                 rng: random.Random) -> list[bool]:
    """The champion's answers, a share `redraw` drawn again, then moved from the champion's accuracy to `acc_s` level by level."""
    out = []
    for p, c in zip(items, champion):
        a, b = acc_c.get(p.level, 0.0), acc_s.get(p.level, 0.0)
        s = rng.random() < a if rng.random() < redraw else c
        if b > a and not s:
            s = rng.random() < (b - a) / (1 - a)
        elif b < a and s:
            s = rng.random() >= (a - b) / a
        out.append(s)
    return out


def simulate(gate: Gate, items: list[Problem], redraw: float, gain: float, trials: int, seed: int = 0) -> dict[str, float]:
    """Rates over `trials` first decisions of a run: champion from `PROFILE`, successor `gain` better at the gate level."""
    rng = random.Random(seed)
    rules = {"per_champion": per_champion(gate, items), "run_wise": run_wise(gate, items)}
    rates = {f"{name}_{what}": 0.0 for name in rules for what in ("promoted", "refused")}
    for _ in range(trials):
        champion = draw(items, PROFILE, rng)
        target = gate.frontier(items, champion) + 1
        successor = successor_of(items, champion, PROFILE, {**PROFILE, target: min(1.0, PROFILE.get(target, 0.0) + gain)}, redraw, rng)
        for name, rule in rules.items():
            promoted, _, refused = rule(champion, successor, [], {})
            rates[f"{name}_promoted"] += promoted / trials
            rates[f"{name}_refused"] += refused / trials
    return rates


def run(rule: Rule, gate: Gate, items: list[Problem], change: Change, redraw: float, generations: int, rng: random.Random) -> tuple[list[Decision], dict[int, float]]:
    """One run: a champion from `PROFILE`, then `generations` successors, each `change`d from the champion of the
    moment. Returns every decision and the last champion's true accuracy."""
    accuracy = dict(PROFILE)
    champion = draw(items, accuracy, rng)
    shown, decisions = right(items, champion), []
    for _ in range(generations):
        target = change(accuracy, gate.frontier(items, champion) + 1)
        successor = successor_of(items, champion, accuracy, target, redraw, rng)
        decisions.append(rule(champion, successor, [p for _, p, _ in decisions], shown))
        if decisions[-1][0]:
            champion, accuracy = successor, target
            shown = most([shown, right(items, champion)])
    return decisions, accuracy


def simulate_runs(gate: Gate, items: list[Problem], change: Change, redraw: float, runs: int, generations: int = 8,
                  seed: int = 0) -> dict[str, dict[str, float]]:
    """Per rule (`per_champion`, `run_wise`), over `runs` runs: the share of runs that promoted at least once, promotions per run,
    the share of decisions refused for a mastered level and level 3's mean true accuracy at the end."""
    out = {}
    for name, rule in (("per_champion", per_champion(gate, items)), ("run_wise", run_wise(gate, items))):
        rng = random.Random(seed)  # the same champions and draws for both rules, as far as their decisions agree
        results = [run(rule, gate, items, change, redraw, generations, rng) for _ in range(runs)]
        out[name] = {"any_promoted": sum(any(d[0] for d in ds) for ds, _ in results) / runs,
                     "promotions": sum(d[0] for ds, _ in results for d in ds) / runs,
                     "refused": sum(d[2] for ds, _ in results for d in ds) / (runs * generations),
                     "level_3": sum(acc[3] for _, acc in results) / runs}
    return out


def same(acc: dict[int, float], level: int) -> dict[int, float]:
    return dict(acc)


def gain(points: float) -> Change:
    return lambda acc, level: {**acc, level: min(1.0, acc.get(level, 0.0) + points)}


def worse(points: float) -> Change:
    return lambda acc, level: {lv: max(0.0, a - points) for lv, a in acc.items()}


def drifting(points: float, per_generation: float, level: int = 3) -> Change:
    return lambda acc, at: {**gain(points)(acc, at), level: acc[level] - per_generation}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000, help="decisions per row, or runs per row with --runs")
    parser.add_argument("--runs", action="store_true", help="whole runs of --generations decisions instead of one decision")
    parser.add_argument("--generations", type=int, default=8)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. eval.items_per_level=200 task=reverse")
    args = parser.parse_args()
    cfg = compose_config(args.overrides)
    gate = plugins.instantiate(cfg.stage.verify.gate, plugins.allowed(cfg))
    task = plugins.instantiate(cfg.task, plugins.allowed(cfg))
    top = min(max(PROFILE), cfg.eval.max_level or max(PROFILE))  # the champion's profile, at most the cap
    items = Splits(**cfg.splits).ladder(task, "test", range(1, top + 1), cfg.eval.items_per_level, cfg.seed)
    sizes = {lv: sum(p.level == lv for p in items) for lv in range(1, top + 1)}
    print(f"test items per level: {sizes}")
    print(f"gate: alpha {gate.alpha} (correction {gate.correction}), tolerance {gate.tolerance}, regression_alpha {gate.regression_alpha}, "
          f"min_items {gate.min_items}; champion accuracy by level {PROFILE}; {args.trials} {'runs' if args.runs else 'trials'} per row")
    if args.runs:
        print(f"run of {args.generations} successors | runs promoting at least once (per-champion -> run-wise) | promotions per run | "
              "decisions refused for a mastered level | level 3 at the end")
        rows = [("equal, 10% redrawn", same, 0.1), ("equal, 30% redrawn", same, 0.3), ("1 point worse everywhere, 10% redrawn", worse(0.01), 0.1),
                ("+3 points at the gate level, 10% redrawn", gain(0.03), 0.1), ("+5 points at the gate level, 10% redrawn", gain(0.05), 0.1),
                ("+10 points at the gate level, 10% redrawn", gain(0.10), 0.1), ("+5 points at the gate level, 30% redrawn", gain(0.05), 0.3),
                ("+5 at the gate level, level 3 -1.5 a generation, 10% redrawn", drifting(0.05, 0.015), 0.1)]
        for label, change, redraw in rows:
            r = simulate_runs(gate, items, change, redraw, args.trials, args.generations)
            b, a = r["per_champion"], r["run_wise"]
            print(f"{label} | {b['any_promoted']:.4f} -> {a['any_promoted']:.4f} | {b['promotions']:.2f} -> {a['promotions']:.2f} | "
                  f"{b['refused']:.4f} -> {a['refused']:.4f} | {b['level_3']:.3f} -> {a['level_3']:.3f}")
        return
    print("successor | promoted (per-champion -> run-wise) | refused for a mastered level (per-champion -> run-wise)")
    for redraw in (0.1, 0.3, 1.0):
        r = simulate(gate, items, redraw, 0.0, args.trials)
        print(f"equal, {redraw:.0%} of answers redrawn | false promotion {r['per_champion_promoted']:.4f} -> {r['run_wise_promoted']:.4f} | "
              f"{r['per_champion_refused']:.4f} -> {r['run_wise_refused']:.4f}")
    for redraw in (0.1, 0.3, 1.0):
        r = simulate(gate, items, redraw, 0.05, args.trials)
        print(f"+5 points at the gate level, {redraw:.0%} redrawn | power {r['per_champion_promoted']:.4f} -> {r['run_wise_promoted']:.4f} | "
              f"{r['per_champion_refused']:.4f} -> {r['run_wise_refused']:.4f}")


if __name__ == "__main__":
    main()
