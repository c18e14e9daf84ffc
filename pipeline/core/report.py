"""What a run shows: `summary.json`, a short `report.md`, and one plot. A few lines, not a framework."""
from __future__ import annotations

import time
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from pipeline.core.approve import APPROVAL  # noqa: E402
from pipeline.core.context import Context  # noqa: E402
from pipeline.core.knowledge import describe, ledger  # noqa: E402
from pipeline.core.records import Audit, Curation, Interpretation, Outcome, SeedAudit, Selected, Verdict  # noqa: E402
from pipeline.core.rundir import FORK, LEDGER, read_json, write_json, write_text  # noqa: E402
from pipeline.core.truth import total  # noqa: E402
from pipeline.ml.evaluate import frontier  # noqa: E402

#: report.md lists a level under "moved" when its accuracy changed this much from the champion's
MOVED = 0.05


def _maybe(ctx: Context, stage: str, name: str) -> dict[str, Any]:
    return _maybe_gen(ctx, ctx.gen, stage, name)


def _maybe_gen(ctx: Context, gen: int, stage: str, name: str) -> dict[str, Any]:
    """A stage output of generation `gen`, or {} when that stage did not run."""
    path = ctx.run.stage_dir(gen, stage) / name
    return read_json(path) if path.is_file() else {}


def past_frontier(rec: dict[str, Any]) -> str:
    """' (56 at level 8)': of a round's new labels, those at its highest level, the furthest past the frontier."""
    per_level = rec.get("new_data_per_level") or {}
    if len(per_level) < 2:
        return ""
    top = max(per_level)
    return f" ({per_level[top]} at level {top})"


def human_labels(ctx: Context, gen: int, stages: list[str]) -> dict[str, dict[str, int]]:
    """Per stage of generation `gen`: the ground-truth labels it read that decided something, and those it only measured."""
    out = {}
    for stage in stages:
        ledger = _maybe_gen(ctx, gen, stage, LEDGER)
        if ledger:
            out[stage] = {use: total(ledger[use]) for use in ("decided", "measured")}
    return out


def generation_record(ctx: Context) -> dict[str, Any]:
    """One generation's line in summary.json, read back from its stage outputs."""
    verdict = ctx.maybe(Verdict)
    audit = ctx.maybe(Audit)
    labels = human_labels(ctx, ctx.gen, [*ctx.cfg.loop.stages, "audit"])
    curation = ctx.maybe(Curation)
    # measured by curate, or under humans=none by the shadow audit
    quality = audit.judge if audit is not None and audit.judge else curation.quality() if curation is not None else None
    approvals = [{k: a[k] for k in ("stage", "accepted", "source", "seconds_waiting")}
                 for a in (_maybe(ctx, s, APPROVAL) for s in ctx.cfg.loop.stages) if a]
    selected = ctx.maybe(Selected)
    done = {s: ctx.run.done_summary(ctx.gen, s) for s in ctx.cfg.loop.stages if ctx.run.is_done(ctx.gen, s)}
    blocked = next((f"blocked by {s}: {d['blocked']}" for s, d in done.items() if d.get("blocked")), None)
    failed = next((f"{s} failed: {d['failed']}" for s, d in done.items() if d.get("failed")), None)
    promoted = verdict is not None and verdict.promoted
    # no verdict: the champion's frontier, as its gate measured it
    front = verdict.frontier if verdict is not None else ctx.read(Verdict, gen=ctx.champion_gen).successor_frontier
    flops = {s: d["flops"] for s, d in done.items() if "flops" in d}
    gate_accuracy = dict(verdict.successor_accuracy) if verdict is not None else {}
    status: Outcome = "blocked" if blocked else "failed" if failed else verdict.outcome if verdict is not None else "rejected"
    return {
        "generation": ctx.gen,
        "status": status,  # promoted | rejected | blocked (review stopped training) | failed (training stopped)
        "frontier": front,
        "promoted": promoted,
        "blocked": blocked is not None,
        "p_value": verdict.p_value if verdict is not None else None,
        "reason": blocked or failed or (verdict.reason if verdict is not None else "no verify stage ran"),
        # the labels this generation's round added; a successor promoted on an empty round only trained more on earlier data
        "new_data": curation.kept if curation is not None else None,
        "empty_round": curation is not None and curation.kept == 0,
        "new_data_per_level": dict(curation.kept_per_level) if curation is not None else {},
        "judge_precision": quality.judge_precision if quality is not None else None,
        "judge_recall": quality.judge_recall if quality is not None else None,
        "judge_yield": quality.judge_yield if quality is not None else None,
        "label_accuracy": quality.label_accuracy if quality is not None else None,
        # the successor's true accuracy (the shadow audit's); the gate's own, under a label-free scorer an estimate
        "per_level_accuracy": dict(gate_accuracy if audit is None or audit.successor_accuracy is None else audit.successor_accuracy),
        "gate_accuracy": gate_accuracy,
        # items per level behind per_level_accuracy (the audit's ladder, else the gate's): a small level is passed over
        "per_level_items": dict(audit.items if audit is not None and audit.items else verdict.items if verdict is not None else {}),
        "true_frontier": None if audit is None else audit.successor_frontier if promoted else audit.champion_frontier,
        "audit": audit.outcome if audit is not None else None,  # correct/false promotion, correct/false rejection, no successor
        "human_labels": labels,  # per stage: {"decided": n, "measured": n}
        "labels_decided": sum(v["decided"] for v in labels.values()),
        "labels_measured": sum(v["measured"] for v in labels.values()),
        "seconds": round(sum(d.get("seconds", 0.0) for d in done.values()), 1),
        "selected": {"id": selected.id, "rationale": selected.rationale, "reason": selected.reason, "recipe": ctx.recipe().to_json()}
        if selected is not None else {"id": "champion", "rationale": "no select stage ran", "reason": None, "recipe": ctx.recipe().to_json()},
        "compute": {"seconds": {s: d.get("seconds", 0.0) for s, d in done.items()}, "flops": flops, "total_flops": sum(flops.values())},
        # a human's answers at the stages in loop.approve (accepted false: that stage's decision was vetoed)
        "approvals": approvals,
        # a human's answer at the terminal is a human touch in the ledger (an answer applied by approve.policy is not)
        "human_touches": sum(a["source"] == "terminal" for a in approvals),
        "touch_seconds": round(sum(a["seconds_waiting"] for a in approvals if a["source"] == "terminal"), 1),
    }


def wall_seconds(ctx: Context) -> float:
    """Time the run has been running, summed over its sessions (a killed run's downtime excluded)."""
    total, start, last = 0.0, None, None
    for ev in ctx.run.events():
        if ev["event"] == "run_start":
            if start is not None:
                total += last - start
            start = ev["time"]
        last = ev["time"]
    return round(total + (time.time() - start if start is not None else 0.0), 1)


def write_report(ctx: Context, records: list[dict[str, Any]], seed_frontier: int, reason: str | None, rule: str | None = None) -> dict[str, Any]:
    """Write summary.json, report.md and accuracy.png; return the summary. `rule` is the config key of the stop rule that
    ended the run (`reason` in words), None while it runs."""
    seed_audit = ctx.maybe(SeedAudit, gen=0)
    seed_verdict = ctx.read(Verdict, gen=0)
    seed_acc = dict(seed_audit.successor_accuracy if seed_audit is not None else seed_verdict.successor_accuracy)
    seed_true = seed_audit.successor_frontier if seed_audit is not None else None
    seed_labels = human_labels(ctx, 0, ["seed", "audit"])
    outcomes = [r["audit"] for r in records]
    summary = {
        "seed_frontier": seed_frontier,
        "seed_levels": ctx.cfg.seed_model.levels,
        "stop_reason": reason,
        "stop_rule": rule,  # eval.max_level | loop.stop_on_block | loop.patience | loop.max_generations | loop.max_minutes
        "wall_seconds": wall_seconds(ctx),
        "judge": ctx.cfg.judge._target_.rsplit(".", 1)[-1],
        "task": ctx.cfg.task._target_.rsplit(".", 1)[-1],
        "device": str(ctx.device),
        "seed_per_level_accuracy": seed_acc,
        "total_flops": sum(r["compute"]["total_flops"] for r in records),
        "humans": ctx.cfg.humans.mode,
        "knowledge": ledger(ctx.cfg),  # what the judge, labeler and scorer read of the task; ground-truth reads are also counted below
        "seed_human_labels": seed_labels,
        # ground-truth labels past the seed that decided something (the human verification the loop leaned on), and those only measured
        "labels_decided": sum(r["labels_decided"] for r in records),
        "labels_measured": sum(r["labels_measured"] for r in records),
        "human_touches": sum(r["human_touches"] for r in records),
        "touch_seconds": round(sum(r["touch_seconds"] for r in records), 1),
        "true_frontier": records[-1]["true_frontier"] if records else seed_true,
        "seed_true_frontier": seed_true,  # the shadow audit's; seed_frontier is the seed's verdict (an estimate under humans=none)
        "audit": {o: outcomes.count(o) for o in ("correct promotion", "false promotion", "false rejection", "correct rejection", "no successor")},
        # decisions where the shadow audit's ground-truth gate, on its own items, decided otherwise than the gate
        "audit_disagreed": outcomes.count("false promotion") + outcomes.count("false rejection"),
        "gate_decisions": sum(o not in (None, "no successor") for o in outcomes),
        "forked": read_json(ctx.run.root / FORK) if (ctx.run.root / FORK).is_file() else None,  # pipeline.tools.fork's record
        "generations": records,
    }
    write_json(ctx.run.root / "summary.json", summary)
    _plot(ctx, seed_acc, records)
    lines = [
        f"# Successor run `{ctx.run.root.name}`",
        "",
        f"Task {summary['task']}, judge {summary['judge']}, device {summary['device']}, humans={summary['humans']}. "
        f"Seed trained on levels 1..{summary['seed_levels']}, frontier {seed_frontier}. "
        f"Stopped{f' by `{rule}`' if rule else ''}: {reason or 'still running'}. Wall time {summary['wall_seconds']:.0f} s.",
        "",
        f"Task knowledge: {describe(summary['knowledge'])}.",
        "",
        *_fork_lines(summary["forked"]),
        _gate_rule(ctx),
        "",
        "![per-level accuracy](accuracy.png)",
        "",
        f"Ground-truth labels past the seed: {summary['labels_decided']} decided something, {summary['labels_measured']} only measured "
        f"(the seed itself: {sum(v['decided'] for v in seed_labels.values())}); {summary['human_touches']} human touches "
        f"({summary['touch_seconds']:.0f} s waiting). True frontier at the end: {summary['true_frontier']}. "
        f"Shadow audit (its own items): {', '.join(f'{n} {o}' for o, n in summary['audit'].items() if n) or 'nothing yet'}; "
        f"it disagreed with the gate on {summary['audit_disagreed']} of {summary['gate_decisions']} decisions.",
        "",
        "| gen | frontier | true frontier | verdict | audit | p-value | labels decided | new labels | label acc | judge precision | judge recall | judge yield | seconds | reason |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    fmt = lambda v: "-" if v is None else (f"{v:.3g}" if isinstance(v, float) else str(v))  # noqa: E731
    for r in records:
        lines.append(
            f"| {r['generation']} | {r['frontier']} | {fmt(r['true_frontier'])} | {r['status']}{' (empty round)' if r['empty_round'] else ''} | "
            f"{fmt(r['audit'])} | {fmt(r['p_value'])} | {r['labels_decided']} | "
            f"{fmt(r['new_data'])}{past_frontier(r)} | {fmt(r['label_accuracy'])} | {fmt(r['judge_precision'])} | {fmt(r['judge_recall'])} | {fmt(r['judge_yield'])} | {fmt(r['seconds'])} | {r['reason']} |"
        )
    lines += ["", "## Research stages and compute", "",
              "| gen | selected | rationale | why selected | pilots (dev accuracy at frontier+1 (gain vs champion, seed by seed)) | compute (s) | training PFLOP |",
              "|---|---|---|---|---|---|---|"]
    for r in records:
        interpretation = ctx.maybe(Interpretation, r["generation"])
        pilots = interpretation.ranked if interpretation is not None else []
        shown = "; ".join(f"{p.id} {p.acc_mean:.2f} ({p.gain:+.2f} +- {p.gain_noise:.2f})" if p.gain is not None
                          else f"{p.id} {p.acc_mean:.2f}" for p in pilots) or "-"
        sel = r["selected"]
        lines.append(f"| {r['generation']} | {sel['id']} | {sel['rationale']} | {sel['reason'] or '-'} | {shown} | "
                     f"{r['seconds']:.0f} | {r['compute']['total_flops'] / 1e15:.3g} |")
    gate = ctx.cfg.stage.verify.gate
    seed_items = dict(seed_audit.items if seed_audit is not None and seed_audit.items else seed_verdict.items)
    lines += ["", *per_level_lines(seed_acc, records, gate.threshold, gate.min_items, seed_items)]
    write_text(ctx.run.root / "report.md", "\n".join(lines) + "\n")
    return summary


def _fork_lines(forked: dict[str, Any] | None) -> list[str]:
    """What a forked run shares with its parent: its first generations were made with the parent's settings."""
    if forked is None:
        return []
    changed = " ".join(f"`{o}`" for o in forked["overrides"]) or "no overrides"
    return [f"Forked from `{forked['parent']}` after generation {forked['generation']} (made with the parent's settings), "
            f"then run with {changed}.", ""]


def _gate_rule(ctx: Context) -> str:
    """The gate's rule in words, with this run's small levels named (the seed's verdict records the test items per level)."""
    gate = ctx.cfg.stage.verify.gate
    sizes = ctx.read(Verdict, gen=0).items
    small = [f"{lv} ({sizes.get(lv, 0)} items)" for lv in sorted(sizes) if sizes[lv] < gate.min_items]
    spread = {"none": f"{gate.alpha} at every decision (correction none)",
              "spending": f"{gate.alpha}·6/(π²g²) at the run's decision g (correction spending: false promotion at most {gate.alpha} over the run)",
              "fallback": f"{gate.alpha}·6/(π²g²) at the run's decision g, plus the level of the decision before when its test passed "
                          f"(correction fallback: false promotion at most {gate.alpha} over the run)"}
    return (f"Gate: promotion needs a significant gain at the level past the champion's frontier (exact McNemar, p below "
            f"{spread[gate.correction]}); every mastered level must be shown within {gate.tolerance:.0%} of the best any champion of the "
            f"run showed there (one-sided Clopper-Pearson bounds, {gate.regression_alpha} over the mastered levels). Levels with fewer than "
            f"{gate.min_items} test items are passed over by the frontier and fail only on evidence of a fall: {', '.join(small) if small else 'none in this run'}.")


def accuracy_grid(seed_acc: dict[int, float], records: list[dict[str, Any]]) -> tuple[list[int], list[int], np.ndarray]:
    """The heatmap's numbers: (levels, generations, grid) with one row per level any generation was scored on and one
    column per generation that has accuracies (0: the seed); NaN where a generation's ladder did not reach a level."""
    cols = [(0, seed_acc)] + [(r["generation"], r["per_level_accuracy"]) for r in records if r["per_level_accuracy"]]
    levels = sorted({lv for _, acc in cols for lv in acc})
    grid = np.full((len(levels), len(cols)), np.nan)
    for j, (_, acc) in enumerate(cols):
        for i, lv in enumerate(levels):
            if lv in acc:
                grid[i, j] = acc[lv]
    return levels, [g for g, _ in cols], grid


def per_level_lines(seed_acc: dict[int, float], records: list[dict[str, Any]], threshold: float, min_items: int = 1,
                    seed_items: dict[int, int] | None = None, moved: float = MOVED) -> list[str]:
    """report.md's per-level numbers, one row a generation however long the ladder: the levels the successor masters
    (its frontier at `threshold`, a level with fewer than `min_items` items passed over as the gate does, shown as a
    range), its accuracy on the levels past them, and the levels where it moved `moved` or more from the champion it
    was compared with (the seed, or the last promoted successor)."""
    lines = [f"## Per-level accuracy (true; mastered at {threshold:g})", "",
             f"| gen | masters levels | past them | moved by {moved:.2f} or more from the champion |", "|---|---|---|---|"]
    champion = seed_acc
    rows = [(0, seed_acc, True, seed_items)] + [(r["generation"], r["per_level_accuracy"], r["promoted"], r.get("per_level_items")) for r in records]
    for gen, acc, promoted, sizes in rows:
        if not acc:
            lines.append(f"| {gen} | - | - | no successor |")
            continue
        levels = sorted(acc)
        top = frontier(acc, threshold, sizes or None, min_items)
        past = ", ".join(f"{lv}: {acc[lv]:.2f}" for lv in levels if lv > top) or "-"
        moves = [(lv, acc[lv] - champion[lv]) for lv in levels if lv in champion and abs(acc[lv] - champion[lv]) >= moved] if gen else []
        shown = ", ".join(f"{lv}: {d:+.2f}" for lv, d in moves) or "-"
        lines.append(f"| {gen}{'' if promoted else ' (rejected)'} | {f'1..{top}' if top >= 1 else 'none'} | {past} | {shown if gen else 'the seed'} |")
        if promoted:
            champion = acc
    return lines


def _plot(ctx: Context, seed_acc: dict[int, float], records: list[dict[str, Any]]) -> None:
    """Left: successor accuracy per level, one line per generation. Middle: the same as a level x generation heatmap,
    which stays readable on a ladder of 30+ levels and many generations. Right: the champion's frontier."""
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(16, 4.6), gridspec_kw={"width_ratios": [1.2, 1.0, 0.8]})
    rows = [(0, seed_acc, True)] + [(r["generation"], r["per_level_accuracy"], r["promoted"]) for r in records if r["per_level_accuracy"]]
    cmap = plt.get_cmap("viridis")
    for i, (gen, acc, promoted) in enumerate(rows):
        levels = sorted(acc)
        left.plot(levels, [acc[lv] for lv in levels], marker="o", markersize=3, color=cmap(i / max(1, len(rows) - 1)),
                  linestyle="-" if promoted else ":", label=f"gen {gen}{'' if promoted else ' (rejected)'}")
    left.axhline(ctx.cfg.stage.verify.gate.threshold, color="grey", linewidth=0.8, linestyle="--")
    left.axvline(ctx.cfg.seed_model.levels, color="red", linewidth=0.8, linestyle="--", label="seed training length")
    if ctx.cap is not None:
        left.axvline(ctx.cap, color="black", linewidth=0.8, linestyle="-.", label=f"the ladder's cap ({ctx.cap})")
    left.set(xlabel="level (digits)", ylabel="test accuracy", title="accuracy per level by generation", ylim=(-0.02, 1.02))
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.legend(fontsize=6, ncol=1 + len(rows) // 12)
    levels, gens, grid = accuracy_grid(seed_acc, records)
    if levels:
        image = middle.imshow(np.ma.masked_invalid(grid), aspect="auto", origin="lower", cmap="viridis", vmin=0, vmax=1, interpolation="nearest",
                              extent=(-0.5, len(gens) - 0.5, levels[0] - 0.5, levels[-1] + 0.5))
        fig.colorbar(image, ax=middle, fraction=0.05, label="accuracy")
        rejected = {r["generation"] for r in records if not r["promoted"]}
        middle.set_xticks(range(len(gens)), [f"{g}{'x' if g in rejected else ''}" for g in gens], fontsize=7)
        middle.yaxis.set_major_locator(MaxNLocator(integer=True))
    middle.set(xlabel="generation (x: rejected)", ylabel="level (digits)", title="accuracy: level x generation (blank: not on its ladder)")
    gens = [0] + [r["generation"] for r in records]
    fronts = [ctx.read(Verdict, gen=0).successor_frontier] + [r["frontier"] for r in records]
    right.step(gens, fronts, where="post", color="black")
    right.scatter([r["generation"] for r in records], [r["frontier"] for r in records],
                  c=["green" if r["promoted"] else "red" for r in records], zorder=3)
    if ctx.cap is not None:
        right.axhline(ctx.cap, color="black", linewidth=0.8, linestyle="-.")
    right.set(xlabel="generation", ylabel="champion frontier", title="frontier (green: promoted, red: not)")
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    fig.savefig(ctx.run.root / "accuracy.png", dpi=100)
    plt.close(fig)
