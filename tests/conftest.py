"""Shared fixtures: the composed config (tiny sizes) and one small model that really answers."""
from __future__ import annotations

import random
import types
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, Union, get_origin, get_type_hints

import pytest
import transformers
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

from pipeline.core.records import Part
from pipeline.ml.model import build_model, build_tokenizer, save
from pipeline.ml.training import encode, train
from tasks.addition import ReversedAddition

CONF = str(Path(__file__).resolve().parents[1] / "conf")
transformers.utils.logging.disable_progress_bar()


def record_json(record: type[Part], **given: Any) -> dict[str, Any]:
    """`record`'s JSON with the `given` keys and a blank for every other key it requires (0, "", False, [], {}, None; a
    nested record's blanks): what a test writes for a stage it stands in for, setting only what the stage under test reads."""
    hints = get_type_hints(record)
    blanks = {f.name: _blank(hints[f.name]) for f in fields(record)
              if f.name not in given and f.name != "details" and f.default is MISSING and f.default_factory is MISSING}
    return record.from_json(blanks | given).to_json()


def _blank(kind: Any) -> Any:
    if get_origin(kind) in (Union, types.UnionType):
        return None
    if isinstance(kind, type) and issubclass(kind, Part):
        return record_json(kind)
    return {list: [], dict: {}}.get(get_origin(kind), kind() if kind in (bool, int, float, str) else None)

#: the tiny preset's sizes as overrides, for a test that runs another preset at them: every stage in seconds, nothing learned
TINY_SIZES = ("seed_model.levels=2", "seed_model.n_problems=500", "seed_model.max_steps=30", "seed_model.batch_size=32", "seed_model.warmup=50",
              "seed_model.check_items=10", "recipe.steps=10", "recipe.batch_size=32", "recipe.warmup=2", "eval.max_level=5", "eval.items_per_level=20",
              "stage.curate.n_problems=200", "stage.verify.gate.min_items=5")


def make_cfg(tmp_path: Path, *overrides: str, experiment: str | None = "tiny") -> DictConfig:
    """The real config composed with an experiment preset (`tiny` unless told), paths pointed into `tmp_path`."""
    GlobalHydra.instance().clear()
    preset = [f"experiment={experiment}"] if experiment else []
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("config", overrides=[*preset, "logger=none", *overrides])
    with open_dict(cfg):
        cfg.cache_dir = str(tmp_path / "cache") if cfg.cache_dir else None
    GlobalHydra.instance().clear()
    return cfg


@pytest.fixture(scope="session")
def adder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny NoPE model that has learned 1-digit reversed addition (memorised, ~10 s on a CPU)."""
    task = ReversedAddition()
    tok = build_tokenizer(task.alphabet)
    problems = task.sample(1, 4000, random.Random(0))
    model = build_model(tok, hidden=64, layers=2, heads=4, seed=0)
    train(model, [(encode(tok, [p.prompt for p in problems], [p.answer for p in problems]), 1.0)],
          steps=300, batch_size=64, lr=3e-3, warmup=20, seed=0)
    folder = tmp_path_factory.mktemp("adder")
    save(model, tok, folder)
    return folder
