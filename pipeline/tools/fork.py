"""`python -m pipeline.tools.fork`: a new run that shares a finished run's first generations and goes on with changed settings.

    python -m pipeline.tools.fork runs/default/<timestamp> --generation 2 --into runs/fork-judge [override ...]
    make loop RUN=runs/fork-judge          # goes on from generation 3 with the run's overrides and these

Changing one stage and running it again from where a run stood answers "what would this stage have done here?" without
paying for the generations before it again. The new folder holds copies of generations 0..K (their stage outputs and
done markers, so the loop skips them), what its judges built (`judge/`: peers, committees, verifiers, each
keyed by what shaped it), the event log and metrics up to the end of generation K, the parent's overrides
followed by the new ones (a new value replaces the parent's for the same key) in `.hydra/overrides.yaml`, the config
they compose in `run_config.yaml`, and `fork.json` (the parent, K, the overrides), which `summary.json` and `report.md`
repeat. Generations 0..K were made with the parent's settings, so an override that would have changed the seed (the
task, the model, the seed's recipe, the splits, the seed) is refused: start a new run for those. A parent whose loop is
running, a generation it has not finished, an existing target and a config that cannot run are refused in one line,
with nothing written.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from pipeline.core.compose import compose_config
from pipeline.core.rundir import FORK, JUDGE, LOCK, RunDir, read_lines, write_json, write_text
from pipeline.core.validate import ConfigError, validate
from pipeline.loop import flat
from pipeline.stages.seed import seed_shape

def _key(override: str) -> str:
    """The config key an override sets (`+a.b=1`, `~a.b`, `judge=oracle` -> `a.b`, `a.b`, `judge`)."""
    return override.split("=", 1)[0].lstrip("+~")


def merge(parent: list[str], changes: list[str]) -> list[str]:
    """The parent's overrides with each key the changes set dropped, then the changes, in order."""
    changed = {_key(o) for o in changes}
    return [o for o in parent if _key(o) not in changed] + list(changes)


def _finished(run: RunDir, k: int) -> bool:
    """Generation k's stages and its shadow audit finished with their outputs intact (the loop's last step of a generation)."""
    return run.is_done(k, "audit") and (k > 0 or run.is_done(0, "seed"))


def _in_use(root: Path) -> bool:
    """Whether a loop holds the run folder's lock now (the lock is only tried, not taken: the parent is left as it was)."""
    if not (root / LOCK).exists():
        return False
    with open(root / LOCK) as f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


def _parent_overrides(root: Path) -> list[str]:
    path = root / ".hydra" / "overrides.yaml"
    if not path.is_file():
        raise ConfigError(f"{path} is missing: the parent was not started by pipeline.loop, so its overrides are unknown")
    try:
        return [str(o) for o in OmegaConf.load(path) if not str(o).startswith("hydra.")]
    except (OmegaConfBaseException, TypeError) as err:
        raise ConfigError(f"{path} is unreadable ({str(err).splitlines()[0]})") from None


def _events_through(root: Path, k: int) -> list[dict[str, Any]]:
    """The parent's event log up to and including generation k's last audit finish: the fork's history."""
    events, _ = read_lines(root / "events.jsonl")
    ends = [i for i, e in enumerate(events) if e.get("event") == "stage_finish" and e.get("gen") == k and e.get("stage") == "audit"]
    return events[: ends[-1] + 1] if ends else []


def fork(parent: Path, k: int, into: Path, changes: list[str]) -> dict[str, Any]:
    """Fork `parent` after generation `k` into the new folder `into` with `changes`; returns what fork.json records.
    Every check runs before anything is written; a failure while copying removes the half-made folder."""
    parent, into = Path(parent), Path(into)
    run = RunDir(parent)
    if not (parent / "run_config.yaml").is_file():
        raise ConfigError(f"{parent} is not a run folder (it has no run_config.yaml)")
    if _in_use(parent):
        raise ConfigError(f"{parent} is in use by a running loop; fork it once that loop has stopped")
    if k < 0 or not _finished(run, k):
        raise ConfigError(f"{parent} has not finished generation {k} (its shadow audit is not done); fork at a generation it finished")
    if into.exists() and (not into.is_dir() or any(into.iterdir())):
        raise ConfigError(f"{into} already exists and is not empty; name a new folder")
    overrides = merge(_parent_overrides(parent), changes)
    cfg = compose_config(overrides)
    validate(cfg)
    try:
        before = flat(OmegaConf.create(seed_shape(OmegaConf.load(parent / "run_config.yaml"))))
    except (OmegaConfBaseException, AttributeError) as err:
        raise ConfigError(f"{parent / 'run_config.yaml'} is unreadable ({str(err).splitlines()[0]})") from None
    after = flat(OmegaConf.create(seed_shape(cfg)))
    moved = sorted(key for key in set(before) | set(after) if before.get(key) != after.get(key))
    if moved:
        raise ConfigError(f"the overrides change the seed that generations 0..{k} grew from (at: {', '.join(moved[:6])}); start a new run for that")
    record = {"parent": str(parent.resolve()), "generation": k, "overrides": list(changes), "time": round(time.time(), 3)}
    try:
        for gen in range(k + 1):
            shutil.copytree(run.root / f"gen_{gen}", into / f"gen_{gen}", dirs_exist_ok=False)
        if (run.root / JUDGE).is_dir():  # what judges built, each under a key of what shaped it: a fork reuses what still fits
            shutil.copytree(run.root / JUDGE, into / JUDGE)
        write_text(into / "events.jsonl", "".join(json.dumps(e) + "\n" for e in _events_through(parent, k)))
        metrics, _ = read_lines(parent / "metrics.jsonl")
        write_text(into / "metrics.jsonl", "".join(json.dumps(m) + "\n" for m in metrics if m.get("gen/step", 0) <= k))
        write_text(into / ".hydra" / "overrides.yaml", OmegaConf.to_yaml(OmegaConf.create(overrides)))
        write_text(into / "run_config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
        write_json(into / FORK, record)
    except BaseException:
        shutil.rmtree(into, ignore_errors=True)
        raise
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="the parent run folder")
    parser.add_argument("--generation", type=int, required=True, help="the last generation the fork shares (0: the seed)")
    parser.add_argument("--into", type=Path, required=True, help="the new run folder")
    parser.add_argument("overrides", nargs="*", help="config overrides for the generations after it, as for pipeline.loop")
    args = parser.parse_intermixed_args()  # overrides after the options, as the README writes them
    try:
        fork(args.run, args.generation, args.into, args.overrides)
    except (ConfigError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(f"forked {args.run} after generation {args.generation} into {args.into}"
          f"{' with ' + ' '.join(args.overrides) if args.overrides else ''}; go on with: make loop RUN={args.into}")


if __name__ == "__main__":
    main()
