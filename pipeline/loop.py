"""The successor loop: seed, then generation after generation of the configured stages.

    python -m pipeline.loop                      # default config (what `make loop` runs)
    python -m pipeline.loop judge=oracle         # swap one part
    python -m pipeline.loop hydra.run.dir=runs/default/<timestamp>   # resume a run

Each stage is marked done in the run folder once its outputs are written; running the loop
again on the same folder skips what is done and resumes at the first unfinished stage.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import hydra
import transformers
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from pipeline import device as devices
from pipeline.context import Context
from pipeline.report import generation_record, write_report
from pipeline.rundir import RunDir
from pipeline.seed import make_seed
from pipeline.splits import Splits
from pipeline.stages import Stage

console = Console(highlight=False, soft_wrap=True)


class ConfigError(ValueError):
    """A config that cannot run: unknown stage, or a resume with different settings."""


def build_stages(cfg: DictConfig) -> list[Stage]:
    """Instantiate `loop.stages` in order from their `stage/<name>` config groups."""
    known = sorted(cfg.get("stage", {}).keys())
    stages = []
    for name in cfg.loop.stages:
        if name not in known:
            raise ConfigError(f"unknown stage '{name}' in loop.stages; known stages: {', '.join(known)}")
        stage = instantiate(cfg.stage[name])
        if not isinstance(stage, Stage) or stage.name != name:
            raise ConfigError(f"stage/{name} must build a Stage named '{name}', got {type(stage).__name__}")
        stages.append(stage)
    return stages


def check_resume(cfg: DictConfig, run: RunDir) -> bool:
    """Record the config on first start; on resume, refuse a config that differs from it."""
    saved = run.root / "run_config.yaml"
    current = OmegaConf.to_yaml(cfg, resolve=True)
    if not saved.exists():
        saved.write_text(current)
        return False
    if saved.read_text() != current:
        old, new = OmegaConf.create(saved.read_text()), OmegaConf.create(current)
        diff = sorted(k for k in set(_flat(old)) | set(_flat(new)) if _flat(old).get(k) != _flat(new).get(k))
        raise ConfigError(
            f"{run.root} was started with a different config (differs at: {', '.join(diff)}). "
            f"Resume with the original overrides (see {run.root}/.hydra/overrides.yaml) or start a new run."
        )
    return True


def _flat(cfg: Any, prefix: str = "") -> dict[str, Any]:
    if OmegaConf.is_dict(cfg):
        return {k: v for key, sub in cfg.items() for k, v in _flat(sub, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): cfg}


def run_stage(ctx: Context, stage: Stage) -> dict[str, Any]:
    """Run one stage unless it already finished; a half-written folder from a killed run is cleared first.
    Returns the stage's summary (read back from its done marker when it ran earlier)."""
    run, gen = ctx.run, ctx.gen
    if run.is_done(gen, stage.name):
        console.print(f"  [dim]gen {gen} {stage.name:<11} done earlier, skipped[/dim]")
        return run.done_summary(gen, stage.name)
    shutil.rmtree(run.stage_dir(gen, stage.name), ignore_errors=True)
    run.event("stage_start", gen=gen, stage=stage.name)
    start = time.time()
    summary = stage.run(ctx)
    summary["seconds"] = round(time.time() - start, 2)
    run.mark_done(gen, stage.name, summary)
    run.event("stage_finish", gen=gen, stage=stage.name, **summary)
    shown = " ".join(f"{k}={v}" for k, v in summary.items() if k != "seconds")
    console.print(f"  gen {gen} {stage.name:<11} {summary['seconds']:6.1f}s  {shown}")
    return summary


def stop_reason(records: list[dict[str, Any]], cfg: DictConfig) -> str | None:
    """Why the loop should stop after these generations, or None to go on."""
    streak = 0
    for rec in records:
        streak = 0 if rec["promoted"] else streak + 1
    if records and records[-1]["blocked"] and cfg.loop.stop_on_block:
        return f"blocked by review in generation {records[-1]['generation']} (loop.stop_on_block)"
    if streak >= cfg.loop.patience:
        return f"plateau: {streak} rejected successors in a row (patience {cfg.loop.patience})"
    if len(records) >= cfg.loop.max_generations:
        return f"max_generations reached ({cfg.loop.max_generations})"
    return None


def run_loop(cfg: DictConfig, root: Path) -> dict[str, Any]:
    """The whole run in folder `root`; returns the summary (also written to summary.json)."""
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    stages = build_stages(cfg)
    run = RunDir(root)
    resumed = check_resume(cfg, run)
    logger = instantiate(cfg.logger)
    ctx = Context(cfg, run, instantiate(cfg.task), Splits(**cfg.splits), devices.pick(cfg.device), logger)
    run.event("run_start", resumed=resumed, device=str(ctx.device))
    console.print(f"[bold]Successor[/bold] run {root} on {ctx.device}{' (resuming)' if resumed else ''}; stages: {' -> '.join(cfg.loop.stages)}")
    logger.start(root, f"{cfg.name}/{root.name}", OmegaConf.to_container(cfg, resolve=True))
    try:
        if not run.is_done(0, "seed"):
            run.event("stage_start", gen=0, stage="seed")
            summary = make_seed(ctx, console)
            run.mark_done(0, "seed", summary)
            run.event("stage_finish", gen=0, stage="seed", **summary)
        seed_front = ctx.read("verify", "verdict.json", gen=0)["successor_frontier"]
        console.print(f"gen 0 (seed): trained on levels 1..{cfg.seed_model.levels}, frontier {seed_front}")
        records: list[dict[str, Any]] = []
        reason = stop_reason(records, cfg)
        while reason is None:
            ctx.gen = len(records) + 1
            start = time.time()
            for stage in stages:
                blocked = run_stage(ctx, stage).get("blocked")
                if blocked:  # a stage refused this generation's training run: no successor, not a crash
                    console.print(f"  [yellow]gen {ctx.gen} blocked by {stage.name}:[/yellow] {blocked}")
                    break
            rec = generation_record(ctx)
            records.append(rec)
            _print_generation(rec, time.time() - start)
            ctx.log({"gen/frontier": rec["frontier"], "gen/promoted": int(rec["promoted"])})
            write_report(ctx, records, seed_front, None)
            reason = stop_reason(records, cfg)
        summary = write_report(ctx, records, seed_front, reason)
        run.event("run_end", stop_reason=reason)
        console.print(f"[bold]stopped:[/bold] {reason}")
        console.print(f"report: {root / 'report.md'}  summary: {root / 'summary.json'}")
        return summary
    finally:
        logger.finish()


def _print_generation(rec: dict[str, Any], seconds: float) -> None:
    f = rec["frontier"]
    acc = rec["per_level_accuracy"]
    verdict = "[green]PROMOTED[/green]" if rec["promoted"] else "[red]rejected[/red]"
    p = rec["p_value"]
    precision = rec["judge_precision"]
    console.print(
        f"[bold]gen {rec['generation']}[/bold] frontier {f} | acc@{f} {acc.get(f, 0.0):.2f} acc@{f + 1} {acc.get(f + 1, 0.0):.2f}"
        f" | judge precision {precision if precision is None else f'{precision:.2f}'} yield {rec['judge_yield']}"
        f" | {verdict} p={p if p is None else f'{p:.2g}'} | {seconds:.0f}s"
    )


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_loop(cfg, Path(HydraConfig.get().runtime.output_dir))


if __name__ == "__main__":
    main()
