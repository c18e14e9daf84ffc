"""The successor loop: seed, then generation after generation of the configured stages.

    python -m pipeline.loop                      # default config (what `make loop` runs)
    python -m pipeline.loop judge=oracle         # swap one part
    python -m pipeline.loop hydra.run.dir=runs/default/<timestamp>   # resume a run

Each stage is marked done in the run folder once its outputs are written; running the loop
again on the same folder skips what is done and resumes at the first unfinished stage.
"""
from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import torch
import transformers
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from rich.console import Console

from pipeline.components.executors import cores
from pipeline.core import approve, knowledge, plugins
from pipeline.core import device as devices
from pipeline.core.context import Context
from pipeline.core.records import SeedTraining, Verdict
from pipeline.core.report import generation_record, past_frontier, wall_seconds, write_report
from pipeline.core.rundir import LEDGER, RunDir, RunDirError, write_json, write_text
from pipeline.core.validate import ConfigError, validate
from pipeline.stages import Stage
from pipeline.stages.seed import make_seed

console = Console(highlight=False, soft_wrap=True)
#: keys of a stage's summary that mean "no successor this generation" (review's block, train's failure)
STOPS = ("blocked", "failed")


def build_stages(cfg: DictConfig) -> list[Stage]:
    """Instantiate `loop.stages` in order from their `stage/<name>` config groups."""
    known = sorted(cfg.get("stage", {}).keys())
    stages = []
    for name in cfg.loop.stages:
        if name not in known:
            raise ConfigError(f"unknown stage '{name}' in loop.stages; known stages: {', '.join(known)}")
        stage = plugins.instantiate(cfg.stage[name], plugins.allowed(cfg))
        if not isinstance(stage, Stage) or stage.name != name:
            raise ConfigError(f"stage/{name} must build a Stage named '{name}', got {type(stage).__name__}")
        stages.append(stage)
    return stages


def check_resume(cfg: DictConfig, run: RunDir) -> bool:
    """Record the config on first start; on resume, refuse a config that differs from it. Keys the saved
    config lacks (added to Successor since the run started) are the one exception: a new key's default keeps
    the earlier behaviour, so the run resumes with them, says so, and records the config it now runs with."""
    saved = run.root / "run_config.yaml"
    current = OmegaConf.to_yaml(cfg, resolve=True)
    if not saved.exists():
        write_text(saved, current)
        return False
    recorded = saved.read_text()
    if recorded != current:
        if current.startswith(recorded):
            raise ConfigError(f"{saved} is truncated (a torn write); if this run was started with this config, delete that file and resume")
        try:
            old, new = flat(OmegaConf.create(recorded)), flat(OmegaConf.create(current))
        except OmegaConfBaseException as err:
            raise ConfigError(f"{saved} is unreadable ({str(err).splitlines()[0]}); this run cannot be resumed safely") from None
        diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        added = [k for k in diff if k not in old]
        if len(added) < len(diff):
            raise ConfigError(
                f"{run.root} was started with a different config (differs at: {', '.join(diff[:8])}{f' and {len(diff) - 8} more' if len(diff) > 8 else ''}). "
                f"Resume with the original overrides (see {run.root}/.hydra/overrides.yaml) or start a new run."
            )
        console.print(f"[yellow]config keys added since this run started, resumed at their defaults: "
                      f"{', '.join(f'{k}={new[k]}' for k in added)}[/yellow]")
        run.event("config_keys_added", keys={k: new[k] for k in added})
        write_text(saved, current)
    return True


def flat(cfg: Any, prefix: str = "") -> dict[str, Any]:
    if OmegaConf.is_dict(cfg):
        return {k: v for key, sub in cfg.items() for k, v in flat(sub, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): cfg}


def finished(run: RunDir, gen: int, name: str) -> bool:
    """Whether stage `name` of generation `gen` finished with its outputs intact; a stage whose outputs
    were damaged since is cleared, with one line saying why, so that it runs again."""
    done, why = run.check_done(gen, name)
    if why is not None:
        console.print(f"  [yellow]gen {gen} {name:<11} running again: {why}[/yellow]")
        run.event("stage_invalid", gen=gen, stage=name, reason=why)
        shutil.rmtree(run.stage_dir(gen, name), ignore_errors=True)
    return done


def run_stage(ctx: Context, stage: Stage, approver: approve.Approver | None = None) -> dict[str, Any]:
    """Run one stage unless it already finished; a half-written folder from a killed run is cleared first
    (an answer recorded in it is kept for the approver). With an `approver`, a human accepts or vetoes the
    stage's decision before it is marked done, so the answer is hashed with its outputs.
    Returns the stage's summary (read back from its done marker when it ran earlier)."""
    run, gen = ctx.run, ctx.gen
    if finished(run, gen, stage.name):
        console.print(f"  [dim]gen {gen} {stage.name:<11} done earlier, skipped[/dim]")
        return run.done_summary(gen, stage.name)
    earlier = approve.recorded(run.stage_dir(gen, stage.name)) if approver else None
    shutil.rmtree(run.stage_dir(gen, stage.name), ignore_errors=True)
    run.event("stage_start", gen=gen, stage=stage.name)
    start = time.time()
    ctx.truth.at(gen, stage.name)
    summary = stage.run(ctx)
    write_json(run.stage_dir(gen, stage.name) / LEDGER, ctx.truth.counts())
    summary["seconds"] = round(time.time() - start, 2)
    if approver:
        summary = approver.review(ctx, stage, summary, earlier)
    run.mark_done(gen, stage.name, summary)
    run.event("stage_finish", gen=gen, stage=stage.name, **summary)
    shown = " ".join(f"{k}={v}" for k, v in summary.items() if k != "seconds")
    console.print(f"  gen {gen} {stage.name:<11} {summary['seconds']:6.1f}s  {shown}")
    return summary


@dataclass(frozen=True)
class Stop:
    """Why the loop stopped: the config key of the rule that fired, and the reason in words."""

    rule: str  # eval.max_level | loop.stop_on_block | loop.patience | loop.max_generations | loop.max_minutes
    reason: str


def stop(records: list[dict[str, Any]], cfg: DictConfig, frontier: int, elapsed: float = 0.0) -> Stop | None:
    """Which rule stops the loop after these generations, or None to go on. `frontier` is the champion's now: at the
    ladder's cap no test item is left for a successor to win on, so a further generation could only be rejected.
    `elapsed` is the run's wall time so far (seconds, over its sessions): with a budget (`loop.max_minutes`) the loop
    stops once it is spent, or when the next generation, taking as long as the last one, would end past it."""
    cap, budget = cfg.eval.max_level, cfg.loop.get("max_minutes")
    if cap is not None and frontier >= cap:
        return Stop("eval.max_level", f"the top of the ladder: frontier {frontier} = eval.max_level, the cap (raise it or set it to null to go on)")
    streak = 0
    for rec in records:
        streak = 0 if rec["promoted"] else streak + 1
    if records and records[-1]["blocked"] and cfg.loop.stop_on_block:
        return Stop("loop.stop_on_block", f"blocked by review in generation {records[-1]['generation']} (loop.stop_on_block)")
    if streak >= cfg.loop.patience:
        return Stop("loop.patience", f"plateau: {streak} generations in a row without a promotion (rejected, blocked or failed; "
                                     f"loop.patience {cfg.loop.patience})")
    if len(records) >= cfg.loop.max_generations:
        return Stop("loop.max_generations", f"max_generations reached ({cfg.loop.max_generations}; loop.max_generations)")
    if budget is not None:
        last = records[-1]["seconds"] if records else 0.0
        if elapsed >= budget * 60:
            return Stop("loop.max_minutes", f"wall-time budget spent: {elapsed / 60:.1f} of {budget:g} minutes (loop.max_minutes)")
        if elapsed + last > budget * 60:
            return Stop("loop.max_minutes", f"wall-time budget: {elapsed / 60:.1f} of {budget:g} minutes spent, and a generation as long "
                                            f"as the last ({last:.0f} s) would end past it (loop.max_minutes)")
    return None


def run_loop(cfg: DictConfig, root: Path, overrides: list[str] | None = None, ask: Callable[[str], str] | None = None) -> dict[str, Any]:
    """The whole run in folder `root`; returns the summary (also written to summary.json).

    The config is validated before the folder is created or written; the folder is locked for the
    whole run. `overrides` (the command line's, from the Hydra entry point) go to `.hydra/overrides.yaml`,
    which `make loop RUN=...` reads to resume. `ask` answers for the stages in `loop.approve` (tests
    script it); by default the terminal's `input`, or `approve.policy` when stdin is not a terminal."""
    validate(cfg)
    stages = build_stages(cfg)
    allow = plugins.allowed(cfg)
    run = RunDir(root)
    with run.lock():
        resumed = check_resume(cfg, run)
        if overrides is not None:
            write_text(root / ".hydra" / "config.yaml", OmegaConf.to_yaml(cfg))
            write_text(root / ".hydra" / "overrides.yaml", OmegaConf.to_yaml(OmegaConf.create(list(overrides))))
        approver = approve.Approver(ask or approve.terminal(), cfg.approve.policy)
        return _run(cfg, run, stages, resumed, plugins.instantiate(cfg.logger, allow), plugins.instantiate(cfg.audit, allow), approver)


def _run(cfg: DictConfig, run: RunDir, stages: list[Stage], resumed: bool, logger: Any, audit: Stage,
         approver: approve.Approver) -> dict[str, Any]:
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    root = run.root
    ctx = Context.build(cfg, run, devices.pick(cfg.device), logger)
    run.event("run_start", resumed=resumed, device=str(ctx.device))
    console.print(f"task knowledge: {knowledge.describe(knowledge.ledger(cfg))}")  # first: what the climb may owe to people
    console.print(f"[bold]Successor[/bold] run {root} on {ctx.device}{' (resuming)' if resumed else ''}; stages: {' -> '.join(cfg.loop.stages)}")
    logger.start(root, f"{cfg.name}/{root.name}", OmegaConf.to_container(cfg, resolve=True))
    try:
        if not finished(run, 0, "seed"):
            shutil.rmtree(run.stage_dir(0, "seed"), ignore_errors=True)  # what a killed seed left
            run.event("stage_start", gen=0, stage="seed")
            summary = make_seed(ctx, console, plugins.instantiate(cfg.stage.verify, plugins.allowed(cfg)))
            run.mark_done(0, "seed", summary, [run.stage_dir(0, s) for s in ("train", "curate", "verify", "seed")])
            run.event("stage_finish", gen=0, stage="seed", **summary)
        run_stage(ctx, audit)
        seed_front = ctx.read(Verdict, gen=0).successor_frontier
        seed_train = ctx.read(SeedTraining, gen=0)  # how long it took: the step of the loss drop differs a lot between seeds
        settled = f"settled at step {seed_train.settled_at:,}" if seed_train.settled_at else "never settled at the peak lr"
        console.print(f"gen 0 (seed): trained on levels 1..{cfg.seed_model.levels} in {seed_train.steps:,} steps ({settled}), frontier {seed_front}")
        records: list[dict[str, Any]] = []
        fired = stop(records, cfg, seed_front, wall_seconds(ctx))
        while fired is None:
            ctx.gen = len(records) + 1
            start = time.time()
            for stage in stages:
                summary = run_stage(ctx, stage, approver if stage.name in cfg.loop.approve else None)
                if any(summary.get(key) for key in STOPS):  # no successor this generation (the generation line says why)
                    break
            run_stage(ctx, audit)  # what ground truth says about this generation's decisions; no stage reads it
            rec = generation_record(ctx)
            records.append(rec)
            _print_generation(rec, time.time() - start)
            ctx.log({"gen/frontier": rec["frontier"], "gen/promoted": int(rec["promoted"])})
            write_report(ctx, records, seed_front, None)
            fired = stop(records, cfg, rec["frontier"], wall_seconds(ctx))
        summary = write_report(ctx, records, seed_front, fired.reason, fired.rule)
        run.event("run_end", stop_reason=fired.reason, stop_rule=fired.rule)
        console.print(f"report: {root / 'report.md'}  summary: {root / 'summary.json'}")
        console.print(f"[bold]stopped by {fired.rule}:[/bold] {fired.reason}")  # last: which rule ended the run
        return summary
    finally:
        logger.finish()


def _print_generation(rec: dict[str, Any], seconds: float) -> None:
    f = rec["frontier"]
    vetoed = [a["stage"] for a in rec["approvals"] if not a["accepted"]]
    true = rec["true_frontier"]  # the shadow audit's; differs from `f` where a label-free gate estimated the frontier
    head = (f"[bold]gen {rec['generation']}[/bold] frontier {f}" + (f" (true {true})" if true is not None and true != f else "")
            + (f" | [yellow]vetoed at {', '.join(vetoed)}[/yellow]" if vetoed else ""))
    if rec["status"] in STOPS:  # no successor was trained or scored: no accuracies to show
        console.print(f"{head} | [yellow]{rec['status'].upper()}[/yellow]: {rec['reason']} | no successor | {seconds:.0f}s")
        return
    acc = rec["per_level_accuracy"]
    verdict = "[green]PROMOTED[/green]" if rec["promoted"] else "[red]rejected[/red]"
    if rec["empty_round"]:  # not self-improvement, whatever the verdict: the successor saw no new label
        verdict += " [yellow](empty round: trained on earlier data only)[/yellow]"
    p = rec["p_value"]
    precision = rec["judge_precision"]
    if rec["audit"] in ("false promotion", "false rejection"):
        verdict += f" [red]({rec['audit']}, by the shadow audit)[/red]"
    shown = " ".join(f"acc@{lv} {acc[lv]:.2f}" for lv in (f, f + 1) if lv in acc)  # no level past the ladder's top
    console.print(
        f"{head} | true {shown}"
        f" | {rec['new_data']} new labels{past_frontier(rec)}, judge precision {precision if precision is None else f'{precision:.2f}'} yield {rec['judge_yield']}"
        f" | {verdict} p={p if p is None else f'{p:.2g}'} | {rec['labels_decided']} human labels decided | {seconds:.0f}s"
    )


class RunFolderCheck(Callback):
    """Hydra creates the run folder before `main` is called: one it cannot create (a read-only runs
    folder) would end in Hydra's stack trace. Registered in conf/config.yaml (`hydra.callbacks`)."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        folder = Path(config.hydra.run.dir)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            print(f"error: cannot create the run folder {folder}: {err.strerror}", file=sys.stderr)
            sys.exit(2)


def split_threads(launcher: DictConfig) -> None:
    """Under hydra/launcher=joblib the runs of a sweep go side by side on this machine: each gets its share of
    the cores (torch would start a thread per core in every run and oversubscribe them). Other launchers have no `n_jobs`."""
    n_jobs = OmegaConf.select(launcher, "n_jobs", default=None)
    if n_jobs:
        side_by_side = n_jobs if n_jobs > 0 else max(1, cores() + 1 + n_jobs)  # joblib's negative n_jobs: all cores but |n_jobs| - 1
        torch.set_num_threads(max(1, cores() // side_by_side))


# conf/ by its path: called as `pipeline.loop.main` (below, and in a submitit job) a relative path would be looked up as a package
@hydra.main(config_path=str(Path(__file__).resolve().parents[1] / "conf"), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """A config that cannot run, a locked or unwritable run folder: one line on stderr, exit status 2."""
    hydra_cfg = HydraConfig.get()
    split_threads(hydra_cfg.launcher)
    root = Path(hydra_cfg.runtime.output_dir)
    try:
        run_loop(cfg, root, list(hydra_cfg.overrides.task))
    except (ConfigError, RunDirError, OSError, approve.NoAnswer) as err:
        _remove_if_empty(root)  # Hydra created the folder; a refused new run leaves nothing behind
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


if __name__ == "__main__":
    from pipeline import loop  # main by its module's name: a launcher that pickles it (submitit) pickles a reference, not this script's globals

    loop.main()
