import random
import shutil
from math import comb
from pathlib import Path

import pytest
import torch
from conftest import make_cfg, record_json
from hydra.utils import instantiate

from pipeline.core.context import Context
from pipeline.core.logger import NoLogger
from pipeline.core.records import Selected, Weaknesses
from pipeline.core.rundir import RunDir, read_json, write_json
from pipeline.ml.data import save_rows
from pipeline.ml.stats import clopper_pearson
from pipeline.stages.review import Review, duplicates, tv_distance
from tasks import Problem


def review_override(impl: str) -> str:
    return f"stage/review={impl}"


def context(tmp_path: Path, *overrides: str, frontier: int = 1, impl: str = "audit", champion: Path | None = None) -> Context:
    """Generation 1 of a tiny run: 20 ground-truth items at levels 1..2 as earlier data, the given frontier."""
    cfg = make_cfg(tmp_path, review_override(impl), *overrides)
    run = RunDir(tmp_path / "run")
    ctx = Context.build(cfg, run, torch.device("cpu"), NoLogger(), gen=1)
    ctx.logger.start(run.root, "test", {})
    seed = ctx.splits.draw("train", 20, lambda r: ctx.task.sample_mixed(2, r), random.Random(0))
    save_rows(rows(seed), run.stage_dir(0, "curate") / "data")
    if champion:
        shutil.copytree(champion, run.stage_dir(0, "train") / "model")
    write_json(ctx.out("weaknesses") / "weaknesses.json", record_json(Weaknesses, frontier=frontier))
    return ctx


def rows(problems: list[Problem], answers: list[str] | None = None) -> dict[str, list]:
    return {"prompt": [p.prompt for p in problems], "answer": answers or [p.answer for p in problems], "level": [p.level for p in problems]}


def draw(ctx: Context, level: int, n: int, seed: int = 1) -> list[Problem]:
    return ctx.splits.draw("train", n, lambda r: ctx.task.sample_level(level, r), random.Random(seed), distinct=True)


def wrong(answer: str) -> str:
    """The answer with its first digit changed: same shape, wrong content."""
    return str((int(answer[0]) + 1) % 10) + answer[1:]


def test_clopper_pearson_matches_known_values_and_covers_at_least_95_percent():
    lo, hi = clopper_pearson(5, 100)
    assert abs(lo - 0.01643) < 1e-4 and abs(hi - 0.11283) < 1e-4
    assert clopper_pearson(0, 100)[0] == 0.0 and abs(clopper_pearson(0, 100)[1] - (1 - 0.025 ** (1 / 100))) < 1e-9
    assert clopper_pearson(100, 100)[1] == 1.0
    for p in (0.02, 0.2, 0.5):  # exact coverage: the chance over all outcomes k that the interval holds the true p
        n = 100
        coverage = sum(comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1) if clopper_pearson(k, n)[0] <= p <= clopper_pearson(k, n)[1])
        assert coverage >= 0.95
    with pytest.raises(ValueError):
        clopper_pearson(3, 2)


def test_review_passes_a_clean_oracle_labelled_round(tmp_path, adder):
    # the adder knows level 1; the oracle keeps exactly its correct labels there
    ctx = context(tmp_path, "judge=oracle", "round.ahead=[1]", frontier=0, champion=adder)
    instantiate(ctx.cfg.stage.curate).run(ctx)
    summary = instantiate(ctx.cfg.stage.review).run(ctx)
    review = read_json(ctx.out("review") / "review.json")
    assert "blocked" not in summary and review["blocked"] is False and review["reasons"] == []
    assert review["audit"]["n"] > 20 and review["audit"]["errors"] == 0 and review["audit"]["true_error_rate"] == 0.0
    assert review["contaminated"] == 0 and review["duplicate_rate"] == 0.0
    assert review["level_coverage"]["covered"] and review["level_coverage"]["target"] == 1
    assert review["predicted_change"] is None


def test_review_blocks_a_round_that_a_noisy_oracle_let_through(tmp_path, adder):
    # the adder's labels are right at level 1 and wrong at level 2; a judge flipping half its decisions keeps half of each
    ctx = context(tmp_path, "judge=noisy_oracle", "judge.p=0.5", "round.ahead=[0,1]", "stage.review.sample_size=40",
                  frontier=1, champion=adder)
    instantiate(ctx.cfg.stage.curate).run(ctx)
    summary = instantiate(ctx.cfg.stage.review).run(ctx)
    review = read_json(ctx.out("review") / "review.json")
    audit = review["audit"]
    assert summary["blocked"].startswith("label error") and review["blocked"] is True
    assert audit["n"] == 40 and audit["ci"][0] > 0.1 and audit["examples"]
    assert 0.2 < audit["true_error_rate"] < 0.9  # a mixed round, so the next check means something
    assert audit["ci"][0] <= audit["true_error_rate"] <= audit["ci"][1]  # the spot-check's CI holds curate's full-round rate


@pytest.mark.parametrize("impl, split", [("audit", "test"), ("strict", "audit"), ("checks_only", "test"), ("checks_only", "audit")])
def test_every_review_blocks_an_item_of_a_graded_split_in_the_data_even_one_no_ladder_holds(tmp_path, impl, split):
    ctx = context(tmp_path, impl=impl)
    ladder = {p.prompt for p in ctx.ladder(split, range(1, 6))}
    leaked = next(p for p in ctx.splits.draw(split, 200, lambda r: ctx.task.sample_level(2, r), random.Random(5)) if p.prompt not in ladder)
    save_rows(rows([*draw(ctx, 2, 50), leaked]), ctx.out("curate") / "data")
    summary = instantiate(ctx.cfg.stage.review).run(ctx)
    review = read_json(ctx.out("review") / "review.json")
    assert summary["blocked"].startswith("contamination: 1 ") and review["contaminated"] == 1
    assert review["reasons"] == [summary["blocked"]]  # the labels are right: only contamination blocks
    assert (review["audit"] is None) == (impl == "checks_only")


def test_audit_ci_contains_the_true_error_rate_of_a_round_with_20_percent_wrong_labels(tmp_path):
    ctx = context(tmp_path)
    problems = draw(ctx, 3, 1000)
    answers = [wrong(p.answer) if i % 5 == 0 else p.answer for i, p in enumerate(problems)]
    save_rows(rows(problems, answers), ctx.out("curate") / "data")
    summary = Review(sample_size=100, max_label_error=0.1, decide_on="lower").run(ctx)
    audit = read_json(ctx.out("review") / "review.json")["audit"]
    assert audit["n"] == 100 and audit["ci"][0] <= 0.2 <= audit["ci"][1]
    assert summary["label_error"] == audit["error_rate"]
    # the same sample under the three rules: point and upper are stricter than lower
    lo, hi = audit["ci"]
    for rule in ("lower", "point", "upper"):
        limit = {"lower": lo - 1e-3, "point": audit["error_rate"] + 1e-3, "upper": hi - 1e-3}[rule]
        assert ("blocked" in Review(max_label_error=limit, decide_on=rule).run(ctx)) == (rule != "point")


def test_checks_only_reads_no_ground_truth_and_reports_duplicates_coverage_drift(tmp_path, monkeypatch):
    ctx = context(tmp_path, impl="checks_only", frontier=2)
    write_json(ctx.out("select") / "selected.json", record_json(Selected, id="champion", predicted_gain=0.07))
    pool_item = ctx.splits.draw("train", 1, lambda r: ctx.task.sample_mixed(2, r), random.Random(0))[0]  # the pool's first item
    fresh = draw(ctx, 3, 8)
    save_rows(rows([*fresh, fresh[0], pool_item]), ctx.out("curate") / "data")
    monkeypatch.setattr(ctx.task, "solve", lambda prompt: pytest.fail("checks_only read ground truth"))
    summary = instantiate(ctx.cfg.stage.review).run(ctx)
    review = read_json(ctx.out("review") / "review.json")
    assert "blocked" not in summary and review["audit"] is None
    assert review["duplicate_rate"] == 0.2 and review["duplicates"] == {"within_round": 1, "in_earlier_data": 1}
    assert review["level_coverage"]["counts"]["3"] == 9 and review["level_coverage"]["covered"]
    assert 0.0 < review["drift"]["level_tv"] <= 1.0 and review["predicted_change"] == 0.07


def test_helpers_and_settings():
    assert tv_distance([1, 1, 2, 2], [1, 1, 1, 1]) == 0.5 and tv_distance([1], []) is None
    assert duplicates(["a", "b", "a"], {"b"}) == {"duplicate_rate": 0.6667, "duplicates": {"within_round": 1, "in_earlier_data": 1}}
    with pytest.raises(ValueError):
        Review(decide_on="median")
