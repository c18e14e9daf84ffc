"""The config `python -m pipeline.loop <overrides>` runs with, composed outside the Hydra entry point (offline tools)."""
from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from pipeline.core.validate import ConfigError

CONF = str(Path(__file__).resolve().parents[2] / "conf")


def compose_config(overrides: list[str]) -> DictConfig:
    """The project's config with `overrides`; overrides that do not compose raise ConfigError in one line."""
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=CONF, version_base="1.3"):
            return compose("config", overrides=overrides)
    except Exception as err:  # Hydra's composition errors have no common base: one line, whatever it was
        raise ConfigError(f"the overrides do not compose: {str(err).splitlines()[0]}") from None
    finally:
        GlobalHydra.instance().clear()
