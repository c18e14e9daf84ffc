"""Shared fixtures: the composed config (tiny sizes) and one small model that really answers."""
from __future__ import annotations

import random
from pathlib import Path

import pytest
import transformers
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

from pipeline.ml.model import build_model, build_tokenizer, save
from pipeline.ml.training import encode, train
from tasks.addition import ReversedAddition

CONF = str(Path(__file__).resolve().parents[1] / "conf")
transformers.utils.logging.disable_progress_bar()


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
