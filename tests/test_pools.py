"""Earlier data (`data=`): which rounds a generation trains on, and what share of a batch each gets."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from pipeline.core.context import Context
from pipeline.core.logger import NoLogger
from pipeline.core.records import TrainRecord, Verdict
from pipeline.core.rundir import RunDir, write_json
from pipeline.ml.data import save_rows
from pipeline.ml.model import build_tokenizer
from pipeline.ml.pilot import _encode_source
from pipeline.stages.experiment import pilot_sources
from pipeline.stages.train import Train
from tests.conftest import make_cfg, record_json

#: generations 0..3 as (promoted, rows): the seed, a promoted round, a rejected one, a promoted empty one
ROUNDS = [(True, 5), (True, 3), (False, 4), (True, 0)]


def _run_with_rounds(tmp_path: Path, data: str, gen: int, champion: Path | None = None) -> Context:
    """Generation `gen` of a run with the rounds above (round g's prompts "g+i="); with `champion`, that model is
    every generation's, and generation 4 has a curated round of its own (2 rows) to train on."""
    cfg = make_cfg(tmp_path, f"data={data}")
    run = RunDir(tmp_path / "run")
    for g, (promoted, n) in enumerate(ROUNDS + [(False, 2)] if champion else ROUNDS):
        save_rows({"prompt": [f"{g}+{i}=" for i in range(n)], "answer": ["0"] * n, "level": [1] * n}, run.stage_dir(g, "curate") / "data")
        write_json(run.stage_dir(g, "verify") / "verdict.json", record_json(Verdict, promoted=promoted))
        if champion and g < 4:
            shutil.copytree(champion, run.stage_dir(g, "train") / "model")
            write_json(run.stage_dir(g, "train") / "train.json", record_json(TrainRecord, recipe=OmegaConf.to_container(cfg.recipe, resolve=True)))
    return Context.build(cfg, run, torch.device("cpu"), NoLogger(), gen=gen)


def _rounds(rows) -> list[str]:
    """Which generations' rounds the rows come from, in order of first appearance."""
    return list(dict.fromkeys(p.split("+")[0] for p in rows["prompt"]))


def test_accumulate_keeps_the_seed_and_every_promoted_round_oldest_first_as_one_pool(tmp_path):
    ctx = _run_with_rounds(tmp_path, "accumulate", gen=4)
    assert ctx.pool_paths() == [ctx.run.stage_dir(g, "curate") / "data" for g in (0, 1, 3)]
    assert len(ctx.pool()) == 5 + 3
    ((rows, share),) = ctx.earlier()  # drawn by rows: the seed's 5 are 5/8 of the earlier data
    assert share == 1.0 and len(rows) == 8 and _rounds(rows) == ["0", "1"]


def test_balanced_gives_every_promoted_round_with_rows_an_equal_share_whatever_its_size(tmp_path):
    ctx = _run_with_rounds(tmp_path, "balanced", gen=4)
    assert ctx.pool_paths() == [ctx.run.stage_dir(g, "curate") / "data" for g in (0, 1, 3)]  # the same data as accumulate's
    assert [(_rounds(rows), len(rows), share) for rows, share in ctx.earlier()] == [(["0"], 5, 0.5), (["1"], 3, 0.5)]  # 3: empty
    sources = pilot_sources(ctx, "round", 0.2)  # pilots mix their data as training does
    assert [s["weight"] for s in sources] == [0.2, pytest.approx(0.4), pytest.approx(0.4)]
    assert [[Path(p).parent.parent.name for p in s["paths"]] for s in sources[1:]] == [["gen_0"], ["gen_1"]]
    assert [share for _, share in _run_with_rounds(tmp_path / "seed", "balanced", gen=1).earlier()] == [1.0]  # the seed alone


def test_per_level_gives_every_level_an_equal_share_whichever_rounds_hold_it(tmp_path):
    """Round 0 (the seed) holds levels 1 and 2, round 1 levels 2 and 7: three levels, a third each, level 2's rows from both."""
    cfg = make_cfg(tmp_path, "data=per_level")
    run = RunDir(tmp_path / "run")
    for g, levels in enumerate([[1, 1, 1, 1, 2], [2, 7, 7]]):
        save_rows({"prompt": [f"{g}+{i}=" for i in range(len(levels))], "answer": ["0"] * len(levels), "level": levels},
                  run.stage_dir(g, "curate") / "data")
        write_json(run.stage_dir(g, "verify") / "verdict.json", record_json(Verdict, promoted=True))
    ctx = Context.build(cfg, run, torch.device("cpu"), NoLogger(), gen=2)
    earlier = [(sorted(rows["prompt"]), sorted(set(rows["level"])), share) for rows, share in ctx.earlier()]
    assert earlier == [(["0+0=", "0+1=", "0+2=", "0+3="], [1], pytest.approx(1 / 3)), (["0+4=", "1+0="], [2], pytest.approx(1 / 3)),
                       (["1+1=", "1+2="], [7], pytest.approx(1 / 3))]
    sources = pilot_sources(ctx, "round", 0.5)  # pilots draw the same groups: every promoted round, filtered to one level
    assert [(s["level"], s["weight"]) for s in sources] == [(None, 0.5)] + [(level, pytest.approx(0.5 / 3)) for level in (1, 2, 7)]
    tok = build_tokenizer(ctx.task.alphabet)
    encoded = [len(_encode_source(tok, s, max_rows=100, seed=0)) for s in sources[1:]]
    assert encoded == [4, 2, 2]


def test_replace_keeps_only_the_latest_promoted_round_with_rows(tmp_path):
    assert _run_with_rounds(tmp_path, "replace", gen=1).pool()["prompt"][:] == [f"0+{i}=" for i in range(5)]  # the seed's
    ctx = _run_with_rounds(tmp_path, "replace", gen=4)  # 3 is empty and 2 was rejected: round 1 is the latest
    assert ctx.pool_paths() == [ctx.run.stage_dir(1, "curate") / "data"]
    assert ctx.pool()["prompt"][:] == [f"1+{i}=" for i in range(3)]


@pytest.mark.parametrize("data, earlier", [("accumulate", [(8, 0.5)]), ("balanced", [(5, 0.25), (3, 0.25)])])
def test_training_gets_its_round_at_new_share_and_the_earlier_groups_the_rest(tmp_path, adder, monkeypatch, data, earlier):
    """What the train stage hands the training loop: encoded sources (rows) and their weights; `recipe.new_share` is 0.5."""
    ctx = _run_with_rounds(tmp_path, data, gen=4, champion=adder)
    handed: list[tuple[int, float]] = []

    def fit(self, ctx, model, tok, sources, recipe, new):
        handed.extend((len(encoded), weight) for encoded, weight in sources)
        raise SystemExit  # the sources are what is measured: nothing to train

    monkeypatch.setattr(Train, "fit", fit)
    with pytest.raises(SystemExit):
        Train().run(ctx)
    assert ctx.recipe().new_share == 0.5 and handed == [(2, 0.5), *earlier]
