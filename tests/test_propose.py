"""Stage 2: the proposers follow the weaknesses report (rules), are seeded (random) or stand still (fixed)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from pipeline.components.proposers import FixedProposer, Proposer, RandomProposer, RulesProposer
from pipeline.core.context import Context
from pipeline.core.logger import NoLogger
from pipeline.core.records import Recipe, Weaknesses
from pipeline.core.rundir import RunDir, write_json
from pipeline.stages.propose import Propose
from tests.conftest import make_cfg

CHAMPION = {"warm_start": True, "hidden": 64, "layers": 4, "heads": 4, "steps": 200, "batch_size": 256, "lr": 1e-3,
            "warmup": 20, "new_share": 0.5, "temperature": 0.0, "judge_threshold": None}


def research_overrides(proposer: str = "rules") -> list[str]:
    """The research stages' groups as overrides."""
    return [f"proposer={proposer}", "stage/propose=default", "stage/build=smoke"]


def report(frontier: int, accuracy: dict[int, float], malformed: float = 0.0, threshold: float = 0.9) -> Weaknesses:
    """A weaknesses.json as the weaknesses stage writes it, read back through JSON (string level keys).
    `malformed`: the share of each level's errors that are format failures."""
    errors = {}
    for level, acc in accuracy.items():
        n = round(100 * (1 - acc))
        errors[level] = {"errors": n, "malformed": round(n * malformed), "wrong_digits": n - round(n * malformed), "mean_digits_wrong": 1.0}
    weak = [{"level": lv, "accuracy": a, "kind": "malformed" if malformed > 0.5 else "wrong_digits"} for lv, a in accuracy.items() if a < threshold]
    data = {"champion_gen": 0, "threshold": threshold, "frontier": frontier, "per_level_accuracy": accuracy, "errors": errors, "weaknesses": weak}
    return Weaknesses.from_json(json.loads(json.dumps(data)))


def propose(proposer: Proposer, report: Weaknesses, history: list[Weaknesses], k: int, seed: int) -> list[dict[str, Any]]:
    """The proposer's candidates for the champion's recipe `CHAMPION`, as candidates.json holds them."""
    return [c.to_json() for c in proposer.propose(report, Recipe.from_json(CHAMPION), history, k, seed=seed)]


FAR = report(2, {1: 1.0, 2: 0.98, 3: 0.1, 4: 0.0})
CLOSE = report(2, {1: 1.0, 2: 0.98, 3: 0.8, 4: 0.1})
MALFORMED = report(2, {1: 1.0, 2: 0.98, 3: 0.3, 4: 0.0}, malformed=0.8)
THIN = report(2, {1: 1.0, 2: 0.91, 3: 0.7, 4: 0.1})


def ids(candidates: list[dict[str, Any]]) -> list[str]:
    return [c["id"] for c in candidates]


def test_rules_change_with_the_weakness_report():
    rules = RulesProposer()
    far, close, malformed, thin = (propose(rules, r, [], 3, seed=0) for r in (FAR, CLOSE, MALFORMED, THIN))
    assert ids(far) == ["champion", "far", "noisy"]
    assert far[1]["changes"] == {"steps": [200, 400]} and far[2]["changes"] == {"judge_threshold": [None, 0.999]}
    assert far[1]["weakness"] == "level 3 accuracy 0.10 < 0.9, wrong digits"
    assert ids(close) == ["champion", "close", "focus"]
    assert close[1]["changes"] == {"steps": [200, 100]} and close[2]["changes"] == {"new_share": [0.5, 0.7]}
    assert ids(malformed) == ["champion", "format", "far"]
    assert malformed[1]["changes"] == {"lr": [1e-3, 5e-4]} and "malformed" in malformed[1]["weakness"]
    assert ids(thin) == ["champion", "close", "margin"]
    assert thin[2]["changes"] == {"new_share": [0.5, 0.3]} and thin[2]["weakness"].startswith("level 2 accuracy 0.91")
    recipes = [[c["recipe"] for c in cands[1:]] for cands in (far, close, malformed, thin)]
    assert all(a != b for i, a in enumerate(recipes) for b in recipes[i + 1:])


def test_rules_see_a_stuck_frontier_in_earlier_reports():
    rules = RulesProposer(stuck_after=2)
    assert ids(propose(rules, CLOSE, [report(1, {1: 0.95, 2: 0.5}), FAR], 3, seed=0)) == ["champion", "close", "focus"]
    stuck = propose(rules, CLOSE, [FAR, FAR], 3, seed=0)
    assert ids(stuck) == ["champion", "stuck", "close"]
    assert stuck[1]["weakness"] == "frontier 2 unchanged for 2 generations"
    assert stuck[1]["changes"] == {"steps": [200, 400], "new_share": [0.5, 0.7]}
    stalled = propose(rules, CLOSE, [FAR] * 4, 3, seed=0)
    assert ids(stalled) == ["champion", "fresh", "stuck"]
    assert stalled[1]["changes"] == {"warm_start": [True, False], "steps": [200, 800]}


def test_rules_spend_less_once_the_ladder_is_mastered():
    done = propose(RulesProposer(), report(4, {1: 1.0, 2: 1.0, 3: 0.99, 4: 0.97}), [], 3, seed=0)
    assert ids(done) == ["champion", "mastered"] and done[1]["changes"] == {"steps": [200, 100]}
    assert "every level up to 4" in done[1]["weakness"]


@pytest.mark.parametrize("proposer", [RulesProposer(), RandomProposer(), FixedProposer()], ids=["rules", "random", "fixed"])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_every_proposal_starts_with_the_control_and_explains_itself(proposer, k):
    for rep in (FAR, CLOSE, MALFORMED):
        cands = propose(proposer, rep, [], k, seed=7)
        assert 1 <= len(cands) <= k and len({c["id"] for c in cands}) == len(cands)
        assert cands[0] == {"id": "champion", "recipe": CHAMPION, "changes": {}, "rationale": "control", "weakness": "none: the champion's recipe unchanged"}
        for c in cands[1:]:
            assert c["rationale"] and c["weakness"] and c["changes"]
            assert c["changes"] == {key: [CHAMPION.get(key), c["recipe"][key]] for key in c["recipe"] if c["recipe"][key] != CHAMPION.get(key)}
        assert json.loads(json.dumps(cands)) == cands  # plain JSON


def test_random_is_seeded_and_differs_across_seeds():
    rnd = RandomProposer()
    a, b = propose(rnd, FAR, [], 3, seed=1), propose(rnd, FAR, [], 3, seed=1)
    assert a == b and len(a) == 3
    others = [propose(rnd, FAR, [], 3, seed=s) for s in (2, 3)]
    assert all([c["recipe"] for c in o] != [c["recipe"] for c in a] for o in others)
    assert a[1]["weakness"] == "level 3 accuracy 0.10 < 0.9, wrong digits"


def test_fixed_returns_only_the_champion():
    assert ids(propose(FixedProposer(), FAR, [FAR, FAR], 3, seed=0)) == ["champion"]


def _context(tmp_path: Path, proposer: str, gen: int) -> Context:
    cfg = make_cfg(tmp_path, *research_overrides(proposer))
    run = RunDir(tmp_path / "run")
    logger = NoLogger()
    logger.start(run.root, "test", {})
    return Context.build(cfg, run, torch.device("cpu"), logger, gen=gen)


def test_propose_stage_reads_the_report_and_history_and_writes_candidates(tmp_path):
    ctx = _context(tmp_path, "rules", gen=3)
    for g in (1, 2, 3):
        write_json(ctx.run.stage_dir(g, "weaknesses") / "weaknesses.json", (FAR if g < 3 else CLOSE).to_json())
    stage = instantiate(ctx.cfg.stage.propose)
    assert isinstance(stage, Propose) and isinstance(stage.proposer, RulesProposer) and stage.k == 3
    assert stage.run(ctx) == {"candidates": 3}
    out = json.loads((ctx.out("propose") / "candidates.json").read_text())
    champion = OmegaConf.to_container(ctx.cfg.recipe, resolve=True)
    assert out["champion_recipe"] == champion and out["weaknesses"] == CLOSE.weaknesses
    assert ids(out["candidates"]) == ["champion", "stuck", "close"]  # gens 1 and 2 had the same frontier
    assert out["candidates"][1]["changes"]["steps"] == [champion["steps"], 2 * champion["steps"]]


@pytest.mark.parametrize("proposer, n", [("random", 3), ("fixed", 1)])
def test_proposer_is_one_override(tmp_path, proposer, n):
    ctx = _context(tmp_path, proposer, gen=1)
    write_json(ctx.out("weaknesses") / "weaknesses.json", FAR.to_json())
    stage = instantiate(ctx.cfg.stage.propose)
    assert type(stage.proposer).__name__.lower().startswith(proposer)
    assert stage.run(ctx) == {"candidates": n}
