"""Kill a small real run with SIGKILL at random moments, resume it each time, and compare its
summary.json with an uninterrupted run's (results, not timings).

    python scripts/kill_sweep.py --kills 20 --out /tmp/sweep [--seed 0] [--min-delay 1 --max-delay 15] [overrides ...]

Every run trains its own seed (each has its own empty cache), so kills land in the seed, in
every stage and in the writes between them. When a killed run finishes before all kills are
placed, a new one takes the rest; every killed run's results are compared. Prints where each kill
landed, the count per stage, whether any finished stage ran twice, and whether the results are
equal; exits 1 when they differ.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from pipeline.core.rundir import RunDir

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["experiment=tiny", "logger=none", "seed_model.max_steps=600", "recipe.steps=100", "loop.max_generations=3", "loop.patience=3"]
TIMINGS = {"wall_seconds", "seconds", "compute"}


def command(run: Path, cache: Path, overrides: list[str]) -> list[str]:
    return [sys.executable, "-m", "pipeline.loop", *SMALL, f"cache_dir={cache}", *overrides, f"hydra.run.dir={run}"]


def results(summary: dict) -> dict:
    """summary.json without its timings."""
    def strip(x: object) -> object:
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k not in TIMINGS}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x
    return strip(summary)


def where(run: Path, before: int) -> str:
    """What the killed session was doing: the stage it had started and not finished, else startup or the writes between stages."""
    events = RunDir(run).events()[before:]
    if not any(e["event"] == "run_start" for e in events):
        return "startup (before the run folder was locked)"
    last = events[-1]
    if last["event"] == "stage_start":
        return last["stage"]
    return "between stages (summary, report, done markers)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-delay", type=float, default=1.0, help="a kill comes min-delay..max-delay seconds after each start")
    parser.add_argument("--max-delay", type=float, default=15.0)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    ref = args.out / "reference"
    start = time.time()
    subprocess.run(command(ref, args.out / "cache_reference", args.overrides), cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    print(f"uninterrupted run: {time.time() - start:.0f} s")
    expected = results(json.loads((ref / "summary.json").read_text()))
    landed: list[str] = []
    runs: list[Path] = []
    while True:
        run = args.out / f"killed_{len(runs)}"
        runs.append(run)
        while len(landed) < args.kills:  # kill, resume, kill ... until the run finishes or the kills are placed
            before = len(RunDir(run).events())
            proc = subprocess.Popen(command(run, args.out / f"cache_{run.name}", args.overrides), cwd=ROOT,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            try:
                proc.wait(timeout=rng.uniform(args.min_delay, args.max_delay))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                landed.append(where(run, before))
                print(f"kill {len(landed):2d} ({run.name}): {landed[-1]}")
                continue
            if proc.returncode != 0:
                print(f"a resumed run failed with status {proc.returncode}")
                return 1
            break
        else:
            subprocess.run(command(run, args.out / f"cache_{run.name}", args.overrides), cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        if len(landed) >= args.kills:
            break
        print(f"{run.name} finished after {len(landed)} kills so far; a new run takes the rest")
    twice, same = [], []
    for run in runs:
        finishes = Counter((e["gen"], e["stage"]) for e in RunDir(run).events() if e["event"] == "stage_finish")
        twice += [(run.name, *k) for k, n in finishes.items() if n > 1]
        same.append(results(json.loads((run / "summary.json").read_text())) == expected)
    print("kills per stage:", dict(Counter(landed).most_common()))
    print(f"finished stages that ran twice: {sorted(twice) or 'none'}")
    print(f"summary.json results equal to the uninterrupted run's: {all(same)} ({len(runs)} killed run(s): {same})")
    return 0 if all(same) and not twice else 1


if __name__ == "__main__":
    sys.exit(main())
