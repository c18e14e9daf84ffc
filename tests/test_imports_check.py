"""The layout checker finds what it is for (cycles, stage-to-stage imports, layer crossings) and the tree has none."""
from __future__ import annotations

from pathlib import Path

from pipeline.tools.imports_check import problems


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for pkg in ("pipeline", "pipeline/ml", "pipeline/core", "pipeline/stages", "tasks"):
        (root / pkg).mkdir(parents=True, exist_ok=True)
        (root / pkg / "__init__.py").touch()
    return root


def test_the_project_tree_breaks_no_rule() -> None:
    assert problems() == []


def test_a_cycle_is_found_even_behind_a_deferred_import(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "pipeline/core/a.py": "from pipeline.core.b import f\n",
        "pipeline/core/b.py": "def f():\n    from pipeline.core import a\n",
    })
    assert problems(root) == ["import cycle: pipeline.core.a -> pipeline.core.b -> pipeline.core.a"]


def test_a_stage_importing_another_stage_is_found_but_base_is_allowed(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "pipeline/stages/base.py": "class Stage: ...\n",
        "pipeline/stages/train.py": "from pipeline.stages.base import Stage\n",
        "pipeline/stages/verify.py": "from pipeline.stages.base import Stage\nfrom pipeline.stages.train import Stage as T\n",
    })
    assert [p.split(" (")[0] for p in problems(root)] == ["stage imports stage: pipeline.stages.verify -> pipeline.stages.train"]


def test_a_lower_layer_importing_a_higher_one_is_found(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "pipeline/stages/train.py": "X = 1\n",
        "pipeline/ml/model.py": "from pipeline.stages.train import X\n",
        "tasks/addition.py": "import pipeline.ml.model\n",
    })
    assert sorted(p.split(" (")[0] for p in problems(root)) == ["layer crossed: pipeline.ml.model -> pipeline.stages.train",
                                                                "layer crossed: tasks.addition -> pipeline.ml.model"]
