"""`python -m pipeline.gate_check`: how often the gate is wrong, measured by simulation at the default sizes.

The test ladder is the real one of the composed config (task, splits, items per level), so small
levels have the items they really have (1-digit addition: 13). A champion answers each item
correctly with its level's accuracy (a profile like the default run's: levels 1..6 mastered at
99%, level 7 at 85%); an *equal* successor redraws a share of those answers from the same
accuracies (10% of them: a fine-tuned successor; 100%: an independent model of the same quality).
- false promotion: an equal successor promoted (should be <= alpha);
- false regression: an equal successor flagged as regressing on a mastered level;
- power: a successor 5 points better at the gate level promoted.
"before" is the rule this project used until the small-level fix: every level counts for the
frontier, and any mastered level that drops by more than the tolerance is a regression.

    python -m pipeline.gate_check [--trials 2000] [overrides ...]
"""
from __future__ import annotations

import argparse
import random
from pathlib import Path

from hydra import compose, initialize_config_dir

from pipeline import plugins
from pipeline.evaluate import frontier, per_level
from pipeline.gate import Gate
from pipeline.stats import discordant, mcnemar_exact
from pipeline.splits import Splits
from tasks import Problem

CONF = str(Path(__file__).resolve().parents[1] / "conf")
PROFILE = {1: 0.99, 2: 0.99, 3: 0.99, 4: 0.99, 5: 0.99, 6: 0.99, 7: 0.85, 8: 0.3, 9: 0.05, 10: 0.0}


def old_rule(gate: Gate, items: list[Problem], champion: list[bool], successor: list[bool]) -> tuple[bool, bool]:
    """(promoted, regressed) by the rule before the fix."""
    acc_c, acc_s = per_level(items, champion), per_level(items, successor)
    f_c = frontier(acc_c, gate.threshold)
    at = [i for i, p in enumerate(items) if f_c < p.level <= f_c + gate.window]
    wins, losses = discordant([champion[i] for i in at], [successor[i] for i in at])
    regressed = any(acc_c[lv] - acc_s[lv] > gate.tolerance for lv in range(1, f_c + 1))
    return bool(at) and not regressed and wins > losses and mcnemar_exact(wins, losses) < gate.alpha, regressed


def simulate(gate: Gate, items: list[Problem], redraw: float, gain: float, trials: int, seed: int = 0) -> dict[str, float]:
    """Rates over `trials` champion/successor pairs. The successor redraws a share `redraw` of the champion's
    answers from the same accuracies, then at the champion's gate level turns wrong answers right so that
    its accuracy there is `gain` higher."""
    rng = random.Random(seed)
    counts = {"promoted": 0, "regressed": 0, "old_promoted": 0, "old_regressed": 0}
    for _ in range(trials):
        champion = [rng.random() < PROFILE.get(p.level, 0.0) for p in items]
        target = gate.frontier(items, champion) + 1
        successor = []
        for p, c in zip(items, champion):
            acc = PROFILE.get(p.level, 0.0)
            s = rng.random() < acc if rng.random() < redraw else c
            if p.level == target and gain and not s:
                s = rng.random() < gain / (1 - acc)
            successor.append(s)
        verdict = gate.decide(items, champion, successor)
        counts["promoted"] += verdict.promoted
        counts["regressed"] += bool(verdict.regressions)
        promoted, regressed = old_rule(gate, items, champion, successor)
        counts["old_promoted"] += promoted
        counts["old_regressed"] += regressed
    return {k: v / trials for k, v in counts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. eval.items_per_level=200 task=reverse")
    args = parser.parse_args()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("config", overrides=args.overrides)
    gate = plugins.instantiate(cfg.stage.verify.gate, plugins.allowed(cfg))
    task = plugins.instantiate(cfg.task, plugins.allowed(cfg))
    items = Splits(**cfg.splits).ladder(task, "test", range(1, cfg.eval.max_level + 1), cfg.eval.items_per_level, cfg.seed)
    sizes = {lv: sum(p.level == lv for p in items) for lv in range(1, cfg.eval.max_level + 1)}
    print(f"test items per level: {sizes}")
    print(f"gate: alpha {gate.alpha}, tolerance {gate.tolerance}, regression_alpha {gate.regression_alpha}, min_items {gate.min_items}; "
          f"champion accuracy by level {PROFILE}; {args.trials} trials per row")
    print("successor                        | false promotion (before -> after) | false regression (before -> after) | ")
    for redraw in (0.1, 0.3, 1.0):
        r = simulate(gate, items, redraw, 0.0, args.trials)
        print(f"equal, {redraw:4.0%} of answers redrawn    | {r['old_promoted']:.4f} -> {r['promoted']:.4f}"
              f"                  | {r['old_regressed']:.4f} -> {r['regressed']:.4f}")
    for redraw in (0.1, 1.0):
        r = simulate(gate, items, redraw, 0.05, args.trials)
        print(f"+5 points at the gate level, {redraw:4.0%} redrawn | power {r['old_promoted']:.4f} -> {r['promoted']:.4f}"
              f" | false regression {r['old_regressed']:.4f} -> {r['regressed']:.4f}")


if __name__ == "__main__":
    main()
