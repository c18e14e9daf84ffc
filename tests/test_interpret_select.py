"""Interpret ranks and flags hand-made pilot records; select keeps the champion unless a paired gain beats its seed spread."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from pipeline.core.context import Context
from pipeline.core.logger import NoLogger
from pipeline.core.records import Built, BuiltCandidate, Experiment, Interpretation, Pilot, Ranked
from pipeline.core.rundir import RunDir, read_json, write_json
from pipeline.stages.interpret import Interpret
from pipeline.stages.select import BestGain, GainPerCompute
from tests.conftest import make_cfg, record_json

RECIPE = {"warm_start": True, "hidden": 64, "layers": 4, "heads": 4, "steps": 200, "batch_size": 256, "lr": 1e-3,
          "warmup": 20, "new_share": 0.5, "temperature": 0.0, "judge_threshold": None}


def make_ctx(tmp_path: Path, *overrides: str) -> Context:
    cfg = make_cfg(tmp_path, "stage/interpret=measured", "stage/select=gain_per_compute", *overrides)
    run = RunDir(tmp_path / "run")
    logger = NoLogger()
    logger.start(run.root, "test", {})
    return Context.build(cfg, run, torch.device("cpu"), logger, gen=1)


def pilot(cid: str, seed: int, target: list[float], losses: list[float | None], **recipe) -> dict:
    """A pilot record as experiment writes it: frontier 3 (acc 0.95), target level 4 at steps 10, 20, 30."""
    checkpoints = [{"step": s, "tokens": 0, "loss": 0.1, "acc": {"3": 0.95, "4": a}} for s, a in zip((10, 20, 30), target)]
    return {"id": cid, "seed": seed, "recipe": {**RECIPE, **recipe}, "steps": 30, "batch_size": 128, "warmup": 3, "params": 1000,
            "items": {"3": 400, "4": 400}, "curve": [{"step": i, "loss": x, "lr": 1e-3, "tokens": 0} for i, x in enumerate(losses)],
            "checkpoints": checkpoints, "final_acc": checkpoints[-1]["acc"], "final_loss": losses[-1], "flops": 1e9, "seconds": 1.0,
            "diverged": any(x is None for x in losses)}


FALLING = [0.5, 0.3, 0.2]
RECORDS = [
    pilot("champion", 0, [0.50, 0.50, 0.50], FALLING), pilot("champion", 1, [0.48, 0.49, 0.50], FALLING),
    pilot("good", 0, [0.40, 0.50, 0.60], FALLING), pilot("good", 1, [0.42, 0.52, 0.60], FALLING),
    pilot("nan", 0, [0.0, 0.0, 0.0], [0.5, None, None], lr=1.0), pilot("nan", 1, [0.0, 0.0, 0.0], [0.5, 2.0, None], lr=1.0),
    pilot("noisy", 0, [0.2, 0.2, 0.2], FALLING), pilot("noisy", 1, [0.7, 0.7, 0.7], FALLING),
    pilot("rising", 0, [0.5, 0.5, 0.5], [0.1, 0.5, 1.0]), pilot("rising", 1, [0.5, 0.5, 0.5], [0.1, 0.6, 1.2]),
]


def write_experiment(ctx: Context, records: list[dict]) -> None:
    out = ctx.out("experiment")
    index = []
    for rec in records:
        name = f"pilots/{rec['id']}-s{rec['seed']}.json"
        write_json(out / name, rec)
        index.append({"id": rec["id"], "seed": rec["seed"], "file": name, "final_acc": rec["final_acc"], "flops": rec["flops"],
                      "seconds": 1.0, "diverged": rec["diverged"]})
    write_json(out / "experiment.json", record_json(Experiment, pilot_steps=30, seeds=[0, 1], levels=[3, 4], frontier=3, pilots=index))


def test_interpret_ranks_by_paired_gain_and_flags_bad_pilots(tmp_path):
    ctx = make_ctx(tmp_path)
    write_experiment(ctx, RECORDS)
    instantiate(ctx.cfg.stage.interpret).run(ctx)
    result = read_json(ctx.out("interpret") / "interpretation.json")
    assert result["frontier"] == 3 and result["target_level"] == 4
    rows = {r["id"]: r for r in result["ranked"]}
    assert [r["id"] for r in result["ranked"]][0] == "good"
    assert [r["gain"] for r in result["ranked"]] == sorted((r["gain"] for r in result["ranked"]), reverse=True)
    # measured at the pilots' end: "good" ends at 0.60 on both seeds, the champion's recipe at 0.50
    assert rows["good"]["acc_mean"] == pytest.approx(0.60) and rows["good"]["gain"] == pytest.approx(0.10)
    assert rows["good"]["slope"] == pytest.approx(1000 * (0.0100 + 0.0090) / 2) and rows["good"]["acc_frontier"] == pytest.approx(0.95)
    assert rows["good"]["full_flops"] == pytest.approx(1e9 * 200 * 256 / (30 * 128)) and rows["good"]["flops"] == 2e9
    assert rows["nan"]["flags"] == ["diverged"]
    assert rows["noisy"]["flags"] == ["unstable"] and rows["noisy"]["acc_std"] == pytest.approx(math.sqrt(0.125))
    assert rows["rising"]["flags"] == ["rising_loss"]
    assert rows["champion"]["flags"] == [] and rows["good"]["flags"] == []
    assert math.sqrt(0.5 * 0.5 / 400) <= result["seed_spread"] < 0.05  # sampling error floor; "noisy" is not pooled
    assert "| 1 | good |" in (ctx.out("interpret") / "table.md").read_text()


def test_gains_are_paired_by_seed_so_shared_luck_cancels(tmp_path):
    # both seeds disagree wildly (0.2 vs 0.7), but on each seed "steady" is 0.1 above the champion
    records = [pilot("champion", 0, [0.2] * 3, FALLING), pilot("champion", 1, [0.7] * 3, FALLING),
               pilot("steady", 0, [0.3] * 3, FALLING), pilot("steady", 1, [0.8] * 3, FALLING)]
    result = Interpret().interpret([Pilot.from_json(r) for r in records], 3, [3, 4])
    rows = {r["id"]: r for r in result["ranked"]}
    assert rows["steady"]["flags"] == ["unstable"] and result["seed_spread"] > 0.3  # each candidate's seeds disagree...
    assert rows["steady"]["gain"] == pytest.approx(0.1) and rows["steady"]["gain_noise"] < 0.05  # ...their difference does not
    assert rows["champion"]["gain"] == 0.0
    ctx = make_ctx(tmp_path)
    write_json(ctx.out("interpret") / "interpretation.json", result)
    write_json(ctx.out("build") / "built.json", record_json(Built, built=[record_json(BuiltCandidate, id="champion", recipe=RECIPE),
                                                                         record_json(BuiltCandidate, id="steady", recipe={**RECIPE, "lr": 5e-4})], dropped=[]))
    instantiate(ctx.cfg.stage.select).run(ctx)
    chosen = read_json(ctx.out("select") / "selected.json")
    assert chosen["id"] == "steady" and chosen["predicted_gain"] == pytest.approx(0.1) and ctx.recipe().lr == 5e-4


def row(cid: str, acc: float, full_flops: float = 1e12, flags: tuple[str, ...] = (), noise: float = 0.05) -> dict:
    """An interpretation row; its paired gain is filled in by `select` against the champion's row."""
    return {"id": cid, "acc_mean": acc, "full_flops": full_flops, "flags": list(flags), "gain_noise": noise}


def select(ctx: Context, stage, rows: list[dict]) -> dict:
    base = next(r["acc_mean"] for r in rows if r["id"] == "champion")
    rows = [{**r, "gain": r["acc_mean"] - base} for r in rows]
    write_json(ctx.out("interpret") / "interpretation.json",
               record_json(Interpretation, frontier=3, target_level=4, ranked=[record_json(Ranked, **r) for r in rows], seed_spread=0.05))
    built = [record_json(BuiltCandidate, id=r["id"], recipe={**RECIPE, "lr": 1e-3 * (i + 1)}) for i, r in enumerate(rows)]
    write_json(ctx.out("build") / "built.json", record_json(Built, built=built, dropped=[]))
    stage.run(ctx)
    return read_json(ctx.out("select") / "selected.json")


def test_select_keeps_the_champion_when_gains_are_within_the_seed_spread(tmp_path):
    ctx = make_ctx(tmp_path)
    stage = instantiate(ctx.cfg.stage.select)
    chosen = select(ctx, stage, [row("a", 0.53), row("champion", 0.50), row("b", 0.40), row("wild", 0.95, flags=("diverged",))])
    assert chosen["id"] == "champion" and chosen["predicted_gain"] == 0.0 and chosen["champion_accuracy"] == 0.50
    assert "keeping the champion" in chosen["reason"] and chosen["recipe"] == ctx.recipe().to_json() and ctx.recipe().lr == 2e-3


def test_select_takes_a_gain_beyond_the_spread_and_ctx_recipe_follows(tmp_path):
    ctx = make_ctx(tmp_path)
    chosen = select(ctx, GainPerCompute(), [row("a", 0.62), row("champion", 0.50)])
    assert chosen["id"] == "a" and chosen["predicted_gain"] == pytest.approx(0.12)
    assert chosen["gain_per_pflop"] == pytest.approx(0.12 / 1e-3) and "'a'" in chosen["reason"]
    assert ctx.recipe().to_json() == chosen["recipe"] and ctx.recipe().lr == 1e-3


def test_gain_per_compute_prefers_the_cheaper_recipe_and_best_gain_ignores_cost(tmp_path):
    ctx = make_ctx(tmp_path)
    rows = [row("dear", 0.65, 4e12), row("big", 0.60, 2e12), row("cheap", 0.60, 1e12), row("champion", 0.50, 1e12)]
    assert select(ctx, GainPerCompute(), rows)["id"] == "cheap"
    assert select(ctx, BestGain(), rows)["id"] == "dear"


def test_select_configs_build_both_implementations(tmp_path):
    assert isinstance(instantiate(make_cfg(tmp_path, "stage/select=best_gain").stage.select), BestGain)
    assert isinstance(instantiate(make_cfg(tmp_path).stage.interpret), Interpret)
    assert OmegaConf.select(make_cfg(tmp_path, "stage/select=gain_per_compute"), "stage.select.margin") == 1.0
