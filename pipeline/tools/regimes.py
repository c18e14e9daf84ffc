"""Improve, plateau, collapse side by side: `regimes.md` and `regimes.png` from a folder of loop runs.

    python -m pipeline.tools.regimes runs/regimes/<timestamp>     # what `make regimes` ends with

Every run folder under it with a summary.json counts, finished or stopped midway (a sweep still running
or killed), so the report can be rebuilt at any time. Runs are grouped into regimes by their config's
`name` (each preset in conf/experiment/ sets its own) and told apart by `seed`.

Three measures of the champion (the model the loop holds) after each generation, 0 being the seed: its
true frontier (the shadow audit's where the run recorded it: under humans=none the loop's own frontier is
an estimate), its lowest true accuracy over the levels the seed was trained on and mastered (1..N: replacing
data makes a model forget the shortest problems first, while level N stays in every round), and one level past
it. Every seed is a thin line, the mean over seeds bold with the band from the lowest seed to the highest. A claim
over seeds says N and the min-max: a percentile bootstrap over three or five seeds (Agarwal et al. 2021) resamples
too few values to mean 95%, so it is added only from `BOOTSTRAP_FROM` seeds up. A finished run that stopped early
keeps its last champion to the end of the figure; an unfinished one is drawn as far as it got. The table also says,
per seed, on how many of its gate decisions the shadow audit (a ground-truth gate on items of its own) disagreed.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from omegaconf import OmegaConf

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from pipeline.core.rundir import read_json, write_text  # noqa: E402

#: the five regime presets first, in this order (colours follow it); any other run name after them
ORDER = ("upper_bound", "improve", "no_humans", "plateau", "collapse")
RESAMPLES = 10_000
BOOTSTRAP_FROM = 10  # seeds; below, a claim over seeds gives N and the min-max only
FALL = 0.20  # the collapse criterion: the worst mastered level ends this far below the seed's accuracy there
MEASURES = ("frontier", "mastered", "past")
#: one marker per regime, and a small sideways shift of its points: regimes that end level (two plateaus at one frontier)
#: would otherwise draw one line over the other
MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*")
SHIFT = 0.08


@dataclass
class Run:
    """One loop run, as three series over generations 0 (the seed) .. the last it finished."""

    folder: Path
    regime: str
    seed: int
    finished: bool
    level: int  # the level the seed was trained up to (it mastered 1..level)
    frontier: list[int]
    mastered: list[float]
    past: list[float]
    promotions: int
    rejections: int  # successors the gate turned down (a blocked or failed generation has none to turn down)
    decisions: int  # gate decisions the shadow audit judged
    disagreed: int  # of those, the ones its ground-truth gate decided otherwise (a false promotion or rejection)
    cap: int | None = None  # the ladder's cap (eval.max_level), None when it had none


def _lowest(acc: dict[int, float], level: int) -> float:
    """The champion's worst accuracy over the levels 1..`level` it was scored on."""
    return min((v for lv, v in acc.items() if lv <= level), default=0.0)


def load_run(folder: Path) -> Run:
    """Read a run folder's summary.json and run_config.yaml. Accuracies are the champion's: a rejected
    successor leaves the champion, and so its accuracy, as it was."""
    summary = read_json(folder / "summary.json")
    cfg = OmegaConf.load(folder / "run_config.yaml")
    level = summary["seed_levels"]
    acc = {int(k): v for k, v in summary["seed_per_level_accuracy"].items()}
    seed_true = summary.get("seed_true_frontier")
    frontier = [summary["seed_frontier"] if seed_true is None else seed_true]
    mastered, past = [_lowest(acc, level)], [acc.get(level + 1, 0.0)]
    for g in summary["generations"]:
        if g["promoted"]:
            acc = {int(k): v for k, v in g["per_level_accuracy"].items()}
        frontier.append(g["frontier"] if g.get("true_frontier") is None else g["true_frontier"])
        mastered.append(_lowest(acc, level))
        past.append(acc.get(level + 1, 0.0))
    outcomes = [g.get("audit") for g in summary["generations"]]
    return Run(folder, str(cfg.name), int(cfg.seed), summary["stop_reason"] is not None, level, frontier, mastered, past,
               sum(g["promoted"] for g in summary["generations"]), sum(g["status"] == "rejected" for g in summary["generations"]),
               sum(o not in (None, "no successor") for o in outcomes), sum(o in ("false promotion", "false rejection") for o in outcomes),
               OmegaConf.select(cfg, "eval.max_level", default=None))


def find_runs(root: Path) -> tuple[list[Run], list[Path]]:
    """The runs under `root` with a summary, and the run folders without one yet (no generation finished)."""
    folders = sorted(p.parent for p in root.rglob("run_config.yaml"))
    return [load_run(f) for f in folders if (f / "summary.json").is_file()], [f for f in folders if not (f / "summary.json").is_file()]


def by_regime(runs: list[Run]) -> dict[str, list[Run]]:
    """Runs grouped by regime, the five regime presets first, seeds in order."""
    names = sorted({r.regime for r in runs}, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    return {n: sorted((r for r in runs if r.regime == n), key=lambda r: r.seed) for n in names}


def bootstrap(values: list[float], resamples: int = RESAMPLES) -> tuple[float, float, float]:
    """(mean, low, high): the mean over seeds and its 95% percentile bootstrap interval, resampling seeds
    with replacement (a fixed generator: the same runs always give the same report)."""
    v = np.asarray(values, dtype=float)
    means = v[np.random.default_rng(0).integers(0, len(v), (resamples, len(v)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(v.mean()), float(low), float(high)


def series(runs: list[Run], measure: str, length: int) -> list[list[float]]:
    """Each run's series of `measure`; a finished run is carried to generation `length - 1` (its champion
    stays), an unfinished one ends where it got to."""
    out = []
    for r in runs:
        values = list(getattr(r, measure))
        out.append(values + values[-1:] * (length - len(values)) if r.finished else values)
    return out


def spread(values: list[float]) -> tuple[float, float, float]:
    """(mean, lowest, highest) over seeds."""
    return float(np.mean(values)), float(min(values)), float(max(values))


def interval(values: list[float]) -> tuple[float, float, float]:
    """What a claim over seeds rests on: the bootstrap interval from `BOOTSTRAP_FROM` seeds up, else the min-max."""
    return bootstrap(values) if len(values) >= BOOTSTRAP_FROM else spread(values)


def band(rows: list[list[float]]) -> tuple[list[int], list[float], list[float], list[float]]:
    """Per generation, over the runs that reached it: (generations, mean, lowest, highest)."""
    gens = list(range(max(len(s) for s in rows)))
    stats = [spread([s[g] for s in rows if g < len(s)]) for g in gens]
    return gens, [m for m, _, _ in stats], [lo for _, lo, _ in stats], [hi for _, _, hi in stats]


def trend(change: tuple[float, float, float]) -> str:
    """`falls` or `rises` when the change's `interval` excludes 0 (below `BOOTSTRAP_FROM` seeds: every seed fell, or
    every seed rose), else `holds`."""
    _, low, high = change
    return "falls" if high < 0 else "rises" if low > 0 else "holds"


def regime_row(runs: list[Run]) -> dict[str, Any]:
    """What the table says of one regime: the end of each run (its last finished generation)."""
    final = interval([r.frontier[-1] for r in runs])
    change = interval([r.mastered[-1] - r.mastered[0] for r in runs])
    return {
        "n": len(runs),
        "seeds": [r.seed for r in runs],
        "finished": sum(r.finished for r in runs),
        "level": sorted({r.level for r in runs}),
        "seed_frontier": [r.frontier[0] for r in runs],
        "final_frontier": final,
        "final_per_seed": [r.frontier[-1] for r in runs],
        "promotions": [r.promotions for r in runs],
        "rejections": [r.rejections for r in runs],
        "mastered_seed": float(np.mean([r.mastered[0] for r in runs])),
        "mastered_end": float(np.mean([r.mastered[-1] for r in runs])),
        "mastered_change": change,
        "mastered_trend": trend(change),
        "fell": sum(r.mastered[0] - r.mastered[-1] >= FALL for r in runs),
        "decisions": [r.decisions for r in runs],
        "disagreed": [r.disagreed for r in runs],
    }


def caption(groups: dict[str, list[Run]]) -> str:
    n = ", ".join(f"{name} {len(runs)}" for name, runs in groups.items())
    return (f"N seeds per regime: {n}. Thin lines: single seeds; bold: the mean over seeds, its band the lowest to the highest seed "
            f"(intervals in the table: min-max below {BOOTSTRAP_FROM} seeds, a 95% percentile bootstrap over seeds from {BOOTSTRAP_FROM} up). "
            "Generation 0 is the seed. Accuracies are the champion's true test accuracy; "
            "a finished run that stopped early keeps its last champion.")


def plot(groups: dict[str, list[Run]], path: Path) -> None:
    """One panel per measure, one colour and marker per regime, each regime's points shifted a little sideways so that
    regimes on the same values stay apart; the ladder's cap, where the runs had one, drawn on the frontier panel."""
    levels = sorted({r.level for runs in groups.values() for r in runs})
    shown = "/".join(map(str, levels))
    titles = {"frontier": "true frontier", "mastered": f"lowest accuracy on levels 1..{shown} (the seed's, mastered)",
              "past": f"accuracy on level {'/'.join(str(lv + 1) for lv in levels)} (one past the seed)"}
    length = max(len(r.frontier) for runs in groups.values() for r in runs)  # the longest run's generations, the seed included
    fig, axes = plt.subplots(1, len(MEASURES), figsize=(16, 4.8))
    colours = plt.get_cmap("tab10")
    for i, (name, runs) in enumerate(groups.items()):
        shift = (i - (len(groups) - 1) / 2) * SHIFT
        for ax, measure in zip(axes, MEASURES):
            rows = series(runs, measure, length)
            for s in rows:
                ax.plot([g + shift for g in range(len(s))], s, color=colours(i), linewidth=0.7, alpha=0.45)
            gens, mean, low, high = band(rows)
            x = [g + shift for g in gens]
            ax.plot(x, mean, color=colours(i), linewidth=2.0, marker=MARKERS[i % len(MARKERS)], markersize=5, label=f"{name} (N={len(runs)})")
            ax.fill_between(x, low, high, color=colours(i), alpha=0.18, linewidth=0)
    caps = sorted({r.cap for runs in groups.values() for r in runs if r.cap is not None})
    for cap in caps:
        axes[0].axhline(cap, color="black", linewidth=0.8, linestyle="-.", label=f"the ladder's cap ({cap})")
    for ax, measure in zip(axes, MEASURES):
        ax.set(xlabel="generation (0: the seed)", title=titles[measure])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if measure == "frontier":
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        else:
            ax.set_ylim(-0.02, 1.02)
    axes[0].legend(fontsize=8)
    fig.text(0.01, 0.01, caption(groups), fontsize=8, wrap=True)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def markdown(root: Path, groups: dict[str, list[Run]], waiting: list[Path]) -> str:
    def ci(m: tuple[float, float, float], n: int) -> str:
        return f"{m[0]:.2f} [{m[1]:.2f}, {m[2]:.2f}] ({'min-max' if n < BOOTSTRAP_FROM else '95% CI'})"
    lines = [f"# Regimes: `{root.name}`", "", "![regimes](regimes.png)", "", caption(groups), "",
             "| regime | N | seeds (finished) | seed frontier | final true frontier, mean [interval] | per seed | promotions, mean (per seed) | "
             "gate rejections (per seed) | audit disagreed with the gate (per seed, of its decisions) | lowest mastered level: seed -> end | "
             "change, mean [interval] | trend | seeds down >= 20 points |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, runs in groups.items():
        row = regime_row(runs)
        lines.append(
            f"| {name} | {row['n']} | {', '.join(map(str, row['seeds']))} ({row['finished']}/{len(runs)}) | {', '.join(map(str, row['seed_frontier']))} | "
            f"{ci(row['final_frontier'], row['n'])} | {', '.join(map(str, row['final_per_seed']))} | "
            f"{np.mean(row['promotions']):.1f} ({', '.join(map(str, row['promotions']))}) | {', '.join(map(str, row['rejections']))} | "
            f"{', '.join(f'{d}/{n}' for d, n in zip(row['disagreed'], row['decisions']))} | "
            f"levels 1..{'/'.join(map(str, row['level']))}: {row['mastered_seed']:.2f} -> {row['mastered_end']:.2f} | {ci(row['mastered_change'], row['n'])} | "
            f"{row['mastered_trend']} | {row['fell']}/{len(runs)} |")
    unfinished = [r.folder for runs in groups.values() for r in runs if not r.finished]
    if unfinished or waiting:
        lines += ["", f"Not finished: {', '.join(str(p.relative_to(root)) for p in unfinished) or 'none'}; "
                      f"no generation yet: {', '.join(str(p.relative_to(root)) for p in waiting) or 'none'}. "
                      "Rerun the sweep with the same folder to finish them, then this command again."]
    return "\n".join(lines) + "\n"


def report(root: Path) -> dict[str, list[Run]]:
    """Write regimes.md and regimes.png into `root`; return the runs by regime."""
    runs, waiting = find_runs(root)
    if not runs:
        raise FileNotFoundError(f"no run with a summary.json under {root}")
    groups = by_regime(runs)
    plot(groups, root / "regimes.png")
    write_text(root / "regimes.md", markdown(root, groups, waiting))
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a multirun folder of loop runs, e.g. runs/regimes/<timestamp>")
    args = parser.parse_args()
    try:
        report(args.folder)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print((args.folder / "regimes.md").read_text())
    print(f"figure: {args.folder / 'regimes.png'}")


if __name__ == "__main__":
    main()
