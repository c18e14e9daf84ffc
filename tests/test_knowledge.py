"""What a run knows of its task: each shipped component's declared hooks, the refusal of a component the task
cannot serve, and the ledger a run records."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import Dataset
from omegaconf import OmegaConf

from pipeline.components.judges import JudgeInput, NoJudge
from pipeline.core import knowledge, plugins
from pipeline.core.knowledge import DECOMPOSITION, FORMAT, GROUND_TRUTH, SYMMETRY
from pipeline.core.validate import validate
from pipeline.loop import ConfigError, run_loop
from pipeline.ml.model import load
from pipeline.ml.sampling import greedy
from tasks import Problem
from tasks.addition import ReversedAddition
from tests.conftest import make_cfg
from tests.test_validate import _cli

CONF = Path(__file__).resolve().parents[1] / "conf"

# Written from what each component's code calls on the task (pipeline/components/judges/, labelers.py, scorers.py), not from its
# declaration: (class, hooks it reads, hooks it cannot work without). Ground truth is `solve`, read through the ledger.
EXPECTED = {
    ("judge", "any_of"): (SYMMETRY, {"well_formed", "equivalents"}, set()),  # the committee's format, the consistency member's forms
    ("judge", "committee"): (FORMAT, {"well_formed"}, set()),
    ("judge", "confident"): (FORMAT, {"well_formed"}, set()),  # consistency with equivalents: false
    ("judge", "consistency"): (SYMMETRY, {"well_formed", "equivalents"}, set()),
    ("judge", "learned"): (FORMAT, {"alphabet", "well_formed"}, set()),  # its tokenizer and corruptions come from the alphabet
    ("judge", "length"): (FORMAT, {"well_formed"}, set()),
    ("judge", "majority"): (FORMAT, {"well_formed"}, set()),
    ("judge", "noisy_oracle"): (GROUND_TRUTH, {"solve"}, set()),
    ("judge", "none"): (None, set(), set()),  # keeps everything, reads nothing
    ("judge", "oracle"): (GROUND_TRUTH, {"solve"}, set()),
    ("judge", "peers"): (FORMAT, {"well_formed"}, set()),  # independently trained models vote; the label must be well formed
    ("judge", "split"): (DECOMPOSITION, {"parts"}, {"parts"}),  # no uncut judge: without parts nothing is kept
    ("labeler", "equivalents"): (SYMMETRY, {"equivalents"}, {"equivalents"}),
    ("labeler", "greedy"): (None, set(), set()),  # the champion's answer as posed
    ("labeler", "split"): (DECOMPOSITION, {"pieces", "join"}, {"pieces", "join"}),
    ("scorer", "confidence"): (FORMAT, {"well_formed"}, set()),
    ("scorer", "self_consistency"): (SYMMETRY, {"well_formed", "equivalents"}, set()),
    ("scorer", "split"): (DECOMPOSITION, {"parts", "well_formed", "equivalents"}, set()),  # consistency decides what it cannot cut
    ("scorer", "truth"): (GROUND_TRUTH, {"solve"}, set()),
}


def _shipped() -> list[tuple[str, str]]:
    return sorted((group, path.stem) for group in ("judge", "labeler", "scorer") for path in (CONF / group).glob("*.yaml"))


def test_every_shipped_component_declares_the_knowledge_it_uses(tmp_path):
    root = make_cfg(tmp_path, experiment=None)
    assert _shipped() == sorted(EXPECTED)  # a new component needs a row here
    for group, name in _shipped():
        comp = plugins.instantiate(plugins.option(group, name, root), plugins.PROJECT)
        declared = (knowledge.highest(comp.uses()), set(comp.uses()), set(comp.needs()))
        assert declared == EXPECTED[group, name], (group, name)
        assert comp.role == group


class Recorder:
    """The task, noting which of its hooks a component calls (calls the task makes inside itself are not the component's)."""

    def __init__(self) -> None:
        self._task, self.called = ReversedAddition(), set()

    def __getattr__(self, name: str):
        if name in knowledge.HOOKS:
            self.called.add(name)
        return getattr(self._task, name)


def _small(node):
    """The component's config with the sizes that train something cut to a step (the calls stay the same)."""
    small = {"members": 1, "steps": 1, "seed_max_steps": 1, "hidden": 8, "layers": 1, "heads": 1, "max_rows": 20}
    if OmegaConf.is_dict(node):
        for key in node:
            node[key] = small[key] if key in small else _small(node[key])
    elif OmegaConf.is_list(node):
        for i in range(len(node)):
            node[i] = _small(node[i])
    return node


# 3 + 4 and 5 + 9 cannot be cut (one column); 21 + 43 can (units 1 + 3 carry nothing): answers by hand, reversed
PROMPTS, LABELS = ["3+4=", "12+34=", "5+9="], ["70", "460", "41"]


@pytest.mark.parametrize("group, name", [key for key in EXPECTED if EXPECTED[key][0] != GROUND_TRUTH])
def test_a_component_calls_exactly_the_hooks_it_declares(adder, tmp_path, group, name):
    """At threshold 0 every label survives to every check, so every hook the component can call is called."""
    root = make_cfg(tmp_path, experiment=None)
    model, tok = load(adder)
    task = Recorder()
    comp = plugins.instantiate(_small(plugins.option(group, name, root)), plugins.PROJECT)
    earlier = Dataset.from_dict({"prompt": ["1+2=", "3+3=", "4+5="], "answer": ["30", "60", "90"], "level": [1, 1, 1]})
    inp = JudgeInput(task, PROMPTS, LABELS, model, tok, seed=0, earlier=earlier)  # type: ignore[arg-type]
    if group == "judge":
        (comp.with_threshold(0.0) if comp.threshold_field else comp).keep(inp)
    elif group == "labeler":
        comp.label(NoJudge(), inp, lambda prompts: greedy(model, tok, prompts))
    else:
        comp.score(model, tok, task, [Problem(p, a, 1) for p, a in zip(PROMPTS, LABELS)], LABELS, None)
    assert task.called == set(comp.uses())


def _refusal(task: str) -> str:
    name = "ForwardAddition" if task == "forward" else f"StringTransform(mode={task})"
    return (f"config error: task {name} does not implement parts, pieces, join, which judge SplitJudge (parts) "
            f"and labeler Split (pieces, join) cannot work without; choose ones that do not need them "
            f"(judge=majority labeler=greedy read its format only)")


@pytest.mark.parametrize("task", ["addition", "copy", "reverse", "forward"])
def test_each_shipped_task_with_the_defaults_and_with_format_only_components(tmp_path, task):
    cfg = make_cfg(tmp_path, f"task={task}", experiment=None)
    if task == "addition":
        validate(cfg)
    else:
        with pytest.raises(ConfigError) as err:
            validate(cfg)
        assert str(err.value) == _refusal(task)
    validate(make_cfg(tmp_path, f"task={task}", "labeler=greedy", "judge=majority", experiment=None))


@pytest.mark.parametrize("overrides, refused", [
    ("labeler=equivalents judge=majority", "which labeler Equivalents (equivalents) cannot"),
    ("labeler=greedy judge=majority stage.curate.judge={_target_:pipeline.components.judges.SplitJudge}", "which judge SplitJudge (parts) cannot"),
    ("labeler=greedy judge=majority stage.experiment.labeler={_target_:pipeline.components.labelers.Split}", "which labeler Split (pieces, join) cannot"),
    ("labeler=greedy judge=any_of judge.judges=[{_target_:pipeline.components.judges.LengthJudge},{_target_:pipeline.components.judges.SplitJudge}]",
     "which judge AnyOf (parts) cannot"),
    ("labeler=greedy judge=split +judge.uncut={_target_:pipeline.components.judges.LengthJudge}", None),  # the length judge decides what cannot be cut
    ("labeler=greedy judge=consistency humans=none", None),  # consistency and the split scorer fall back to a format-only check
    ("loop.stages=[weaknesses,verify]", None),  # no stage labels: the default judge and labeler are never built
])
def test_a_component_is_refused_wherever_it_is_configured(tmp_path, overrides, refused):
    cfg = make_cfg(tmp_path, "task=copy", *overrides.split(" "), experiment=None)
    if refused is None:
        validate(cfg)
        return
    with pytest.raises(ConfigError, match=r"^config error: task StringTransform\(mode=copy\) does not implement .*" + refused.replace("(", r"\(").replace(")", r"\)")):
        validate(cfg)


def test_a_component_its_class_cannot_build_is_one_line_too(tmp_path):
    cfg = make_cfg(tmp_path, "judge=any_of", "judge.judges.1={_target_:pipeline.components.judges.SplitJudge}", experiment=None)  # keeps consistency's settings
    with pytest.raises(ConfigError, match="^config error: Error in call to target 'pipeline.components.judges.split.SplitJudge': TypeError.*'require_format'") as err:
        validate(cfg)
    assert "\n" not in str(err.value)


def test_the_refusal_is_one_line_exit_2_and_writes_nothing(tmp_path):
    run = tmp_path / "run"
    proc = _cli(run, "task=reverse")
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {_refusal('reverse')}"
    assert "Traceback" not in proc.stdout + proc.stderr and not run.exists()
    with pytest.raises(ConfigError):
        run_loop(make_cfg(tmp_path, "task=copy"), run)
    assert not run.exists()


def test_the_ledger_shows_the_hooks_the_task_implements(tmp_path):
    led = knowledge.ledger(make_cfg(tmp_path, experiment=None))
    assert led == {"task": "ReversedAddition", "class": DECOMPOSITION, "ground_truth": ["scorer TrueAnswers"], "components": [
        {"role": "judge", "name": "SplitJudge", "hooks": {"parts": DECOMPOSITION}, "class": DECOMPOSITION},
        {"role": "labeler", "name": "Split", "hooks": {"pieces": DECOMPOSITION, "join": DECOMPOSITION}, "class": DECOMPOSITION},
        {"role": "scorer", "name": "TrueAnswers", "hooks": {"solve": GROUND_TRUTH}, "class": GROUND_TRUTH}]}
    # reversal has no equivalent forms and no cut: the label-free scorer and the consistency judge read its format alone
    led = knowledge.ledger(make_cfg(tmp_path, "task=reverse", "judge=consistency", "labeler=greedy", "humans=none", experiment=None))
    assert led["class"] == FORMAT and led["ground_truth"] == []
    assert [(p["name"], p["hooks"], p["class"]) for p in led["components"]] == [
        ("ConsistencyJudge", {"well_formed": FORMAT}, FORMAT), ("Greedy", {}, None), ("SplitCheck", {"well_formed": FORMAT}, FORMAT)]


def test_a_tiny_run_records_and_shows_what_it_used(tmp_path, capsys):
    cfg = make_cfg(tmp_path, "task=reverse", "judge=majority", "labeler=greedy", "loop.max_generations=1", "proposer=fixed",
                   "loop.stages=[weaknesses,curate,train,verify]")
    run = tmp_path / "run"
    run_loop(cfg, run)
    line = "task knowledge: format (judge MajorityJudge: format; labeler Greedy: none; scorer TrueAnswers: ground truth, counted as human labels)"
    assert capsys.readouterr().out.splitlines()[0] == line
    assert json.loads((run / "summary.json").read_text())["knowledge"] == {
        "task": "StringTransform(mode=reverse)", "class": FORMAT, "ground_truth": ["scorer TrueAnswers"], "components": [
            {"role": "judge", "name": "MajorityJudge", "hooks": {"well_formed": FORMAT}, "class": FORMAT},
            {"role": "labeler", "name": "Greedy", "hooks": {}, "class": None},
            {"role": "scorer", "name": "TrueAnswers", "hooks": {"solve": GROUND_TRUTH}, "class": GROUND_TRUTH}]}
    assert "\n" + line.replace("task knowledge", "Task knowledge") + ".\n" in (run / "report.md").read_text()
