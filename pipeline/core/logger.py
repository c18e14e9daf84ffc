"""Metric logging: always to `metrics.jsonl` in the run folder, optionally to wandb too.

`NoLogger` is a do-nothing stand-in (nanochat's DummyWandb), so stages never branch on
whether wandb is on. wandb is offline by default: it needs no account and no network,
writes under the run folder, and `wandb sync` uploads it later.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pipeline.core.rundir import append_line


class NoLogger:
    """Logs nothing beyond the plain metrics file."""

    def start(self, run_dir: Path, name: str, config: dict[str, Any]) -> None:
        self.path = Path(run_dir) / "metrics.jsonl"

    def log(self, metrics: dict[str, Any]) -> None:
        append_line(self.path, json.dumps(metrics))

    def finish(self) -> None:
        pass


class WandbLogger(NoLogger):
    """wandb in `offline` (default), `online` or `disabled` mode, plus the plain metrics file."""

    def __init__(self, mode: str = "offline", project: str = "successor") -> None:
        if mode not in ("offline", "online", "disabled"):
            raise ValueError(f"logger.mode must be offline, online or disabled, got {mode!r}")
        self.mode, self.project = mode, project

    def start(self, run_dir: Path, name: str, config: dict[str, Any]) -> None:
        super().start(run_dir, name, config)
        os.environ.setdefault("WANDB_ERROR_REPORTING", "false")
        os.environ.setdefault("WANDB_SILENT", "true")
        import wandb

        settings = wandb.Settings(init_timeout=30, x_disable_stats=True, console="off")
        self.wandb = wandb.init(project=self.project, name=name, dir=str(run_dir), mode=self.mode, config=config, settings=settings)
        self.wandb.define_metric("gen/*", step_metric="gen/step")

    def log(self, metrics: dict[str, Any]) -> None:
        super().log(metrics)
        self.wandb.log(metrics)

    def finish(self) -> None:
        self.wandb.finish()
