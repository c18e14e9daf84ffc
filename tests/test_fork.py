"""pipeline.tools.fork: a new run from a finished run's first generations, going on with changed settings."""
from __future__ import annotations

import fcntl
import json
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from pipeline.core.validate import ConfigError
from pipeline.loop import run_loop
from pipeline.core.compose import compose_config
from pipeline.tools.fork import fork, merge

ROOT = Path(__file__).resolve().parents[1]


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def parent(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A finished two-generation tiny run, started as `python -m pipeline.loop <overrides>` starts one."""
    tmp = tmp_path_factory.mktemp("fork")
    overrides = ["experiment=tiny", "logger=none", f"cache_dir={tmp / 'cache'}", "judge=length", "loop.max_generations=2",
                 "stage.review.max_label_error=1.0"]  # tiny labels are bad: let them through
    run_loop(compose_config(overrides), tmp / "parent", overrides)
    return tmp / "parent", overrides


def test_merge_replaces_a_key_the_parent_set_and_keeps_the_rest_in_order():
    assert merge(["task=copy", "judge=length", "+x.y=1"], ["judge=oracle", "x.y=2", "seed=3"]) == ["task=copy", "judge=oracle", "x.y=2", "seed=3"]


def test_a_fork_shares_the_parents_first_generations_and_goes_on_with_its_overrides(parent, tmp_path):
    root, overrides = parent
    parent_events = (root / "events.jsonl").read_text()
    child = tmp_path / "child"
    (root / "judge" / "peers-k").mkdir(parents=True, exist_ok=True)  # what a judge built, under its key
    (root / "judge" / "peers-k" / "peer-0").write_text("weights")
    fork(root, 1, child, ["loop.stages=[weaknesses,curate,train,verify]", "loop.max_generations=3"])
    assert (child / "judge" / "peers-k" / "peer-0").read_text() == "weights"
    assert sorted(p.name for p in child.glob("gen_*")) == ["gen_0", "gen_1"]
    assert (root / "gen_2").is_dir() and (root / "events.jsonl").read_text() == parent_events  # the parent is left as it was
    events = _lines(child / "events.jsonl")
    assert (events[-1]["event"], events[-1]["gen"], events[-1]["stage"]) == ("stage_finish", 1, "audit")
    assert not any(e.get("gen", 0) > 1 for e in events)
    assert {m["gen/step"] for m in _lines(child / "metrics.jsonl")} == {0, 1} < {m["gen/step"] for m in _lines(root / "metrics.jsonl")}
    merged = list(OmegaConf.load(child / ".hydra" / "overrides.yaml"))
    assert merged == [o for o in overrides if o != "loop.max_generations=2"] + ["loop.stages=[weaknesses,curate,train,verify]", "loop.max_generations=3"]

    n = len(events)
    summary = run_loop(compose_config(merged), child, merged)  # what `make loop RUN=<child>` runs
    started = {(e["gen"], e["stage"]) for e in _lines(child / "events.jsonl")[n:] if e["event"] == "stage_start"}
    assert started and min(gen for gen, _ in started) == 2  # generations 0 and 1 are the parent's, not made again
    assert (child / "gen_1" / "propose").is_dir() and not (child / "gen_2" / "propose").exists()  # gen 2 ran the new chain
    assert [g["generation"] for g in summary["generations"]][:2] == [1, 2]
    parent_gen1 = json.loads((root / "summary.json").read_text())["generations"][0]
    assert summary["generations"][0]["p_value"] == parent_gen1["p_value"] and summary["generations"][0]["frontier"] == parent_gen1["frontier"]
    assert summary["forked"]["generation"] == 1 and summary["forked"]["parent"] == str(root.resolve())
    assert "Forked from" in (child / "report.md").read_text()


@pytest.mark.parametrize("generation, changes, why", [
    (5, [], "has not finished generation 5"),
    (1, ["seed=1"], r"change the seed .*\(at: seed\)"),
    (1, ["model.hidden=32"], r"at: model.hidden"),
    (1, ["judge=telepathy"], "do not compose"),
    (1, ["loop.max_generations=0"], "max_generations"),
])
def test_a_fork_that_cannot_work_is_refused_before_anything_is_written(parent, tmp_path, generation, changes, why):
    with pytest.raises(ConfigError, match=why):
        fork(parent[0], generation, tmp_path / "child", changes)
    assert not (tmp_path / "child").exists()


def test_a_fork_into_a_used_folder_or_from_a_running_loop_is_refused(parent, tmp_path):
    (tmp_path / "child").mkdir()
    (tmp_path / "child" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="already exists"):
        fork(parent[0], 1, tmp_path / "child", [])
    assert [p.name for p in (tmp_path / "child").iterdir()] == ["notes.txt"]
    with open(parent[0] / ".lock") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # a loop running on the parent holds this
        with pytest.raises(ConfigError, match="in use"):
            fork(parent[0], 1, tmp_path / "other", [])
    assert not (tmp_path / "other").exists()


def test_the_command_says_why_in_one_line_and_exits_2(parent, tmp_path):
    done = subprocess.run([sys.executable, "-m", "pipeline.tools.fork", str(parent[0]), "--generation", "7", "--into", str(tmp_path / "c"),
                           "judge=majority"], cwd=ROOT, capture_output=True, text=True)  # an override after the options, as in the README
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0 and "has not finished generation 7" in done.stderr
