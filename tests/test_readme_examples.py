"""The README's extending examples work as printed: its task file and YAML run the general preset, and its stage
file and YAML run inside the loop, with nothing else of the project edited (tiny sizes, a few seconds of training)."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

import tasks
from pipeline.loop import run_loop
from pipeline.ml.data import load_rows
from tests.conftest import TINY_SIZES, make_cfg

README = Path(__file__).resolve().parents[1] / "README.md"
TINY = [*TINY_SIZES, "loop.max_generations=1", "cache_dir=null"]


def _extending() -> str:
    text = README.read_text()
    return text[text.index("## Extending"):text.index("## Run folder")]


def _after(section: str, marker: str, fence: str) -> str:
    """The first fenced block of kind `fence` after `marker` in `section`."""
    return re.search(r"```" + fence + r"\n(.*?)```", section[section.index(marker):], re.S).group(1)


@pytest.fixture
def newcomer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The README's new files, each where it says, in a scratch tree that the project's import paths and Hydra see."""
    section = _extending()
    task_yaml = re.search(r"`conf/task/shift\.yaml` holds one line, `([^`]+)`", section).group(1)
    files = {
        "tasks/shift.py": _after(section, "`tasks/shift.py`", "python"),
        "conf/task/shift.yaml": task_yaml + "\n",
        "my_stages/__init__.py": "",
        "my_stages/frontier.py": _after(section, "`my_stages/frontier.py`", "python"),
        "conf/stage/frontier/table.yaml": _after(section, "`conf/stage/frontier/table.yaml`", "yaml"),
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(tasks, "__path__", [*tasks.__path__, str(tmp_path / "tasks")])  # as if tasks/shift.py were in the clone
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_stages", raising=False)
    return tmp_path


def test_the_readme_task_runs_the_general_preset(newcomer: Path) -> None:
    cfg = make_cfg(newcomer, "task=shift", f"hydra.searchpath=[file://{newcomer / 'conf'}]", *TINY, experiment="general")
    summary = run_loop(cfg, newcomer / "run")
    assert summary["task"] == "DigitShift" and summary["knowledge"]["class"] == "format"  # the general preset reads the format only
    assert [g["generation"] for g in summary["generations"]] == [1]
    seed_rows = load_rows(newcomer / "run" / "gen_0" / "curate" / "data")
    shift = str.maketrans("0123456789", "1234567890")  # the task as the README states it: every digit + 1, 9 wraps to 0
    assert len(seed_rows) and all(a == p[1:-1].translate(shift) and p[0] == "S" for p, a in zip(seed_rows["prompt"], seed_rows["answer"]))


def test_the_readme_stage_runs_in_the_loop(newcomer: Path) -> None:
    cfg = make_cfg(newcomer, "+stage/frontier=table", "plugins.allow=[my_stages]", "loop.stages=[weaknesses,frontier,curate,train,verify]",
                   f"hydra.searchpath=[file://{newcomer / 'conf'}]", *TINY, experiment=None)
    summary = run_loop(cfg, newcomer / "run")
    table = (newcomer / "run" / "gen_1" / "frontier" / "table.tsv").read_text().splitlines()
    weak = json.loads((newcomer / "run" / "gen_1" / "weaknesses" / "weaknesses.json").read_text())
    assert table[0] == "level\taccuracy"
    assert [line.split("\t")[0] for line in table[1:]] == list(weak["per_level_accuracy"])
    assert summary["generations"][0]["generation"] == 1 and len(table) == 1 + len(weak["per_level_accuracy"]) > 1
