"""What a run knows about its task beyond the models' own answers: the task hooks its judges, labelers and
scorer read, in four classes from least to most human knowledge.

- format: an answer's length and alphabet (`Task.well_formed`, `answer_length`, `alphabet`, and `stratum`,
  read off the prompt's shape);
- symmetry: other prompts with the same answer (`Task.equivalents`);
- decomposition: shorter problems whose answers make or check this one's (`Task.parts`, `pieces`, `join`);
- ground truth: true answers (`Task.solve`), read only through `pipeline.core.truth`, whose ledger counts every
  read as a human label.

A component declares the hooks it `uses` (reads where the task has them) and those it `needs` (cannot work
without: a split judge with no judge for the problems it cannot cut keeps nothing on a task without `parts`).
Both depend on its settings, so they are methods of the instance. A run whose component needs a hook the task
lacks is refused before any work (`refusal`, called by `pipeline.core.validate`); every other run records what it
used (`ledger`). Every run reads the format (the tokenizer is the task's alphabet, weaknesses counts malformed
answers), so a run's class is at least format.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from omegaconf import DictConfig, OmegaConf

from pipeline.core import plugins
from tasks import Task

FORMAT, SYMMETRY, DECOMPOSITION, GROUND_TRUTH = "format", "symmetry", "decomposition", "ground truth"
#: least to most human knowledge
CLASSES = (FORMAT, SYMMETRY, DECOMPOSITION, GROUND_TRUTH)
#: every task hook a component may read, and its class
HOOKS: dict[str, str] = {
    "well_formed": FORMAT, "answer_length": FORMAT, "alphabet": FORMAT, "stratum": FORMAT,
    "equivalents": SYMMETRY,
    "parts": DECOMPOSITION, "pieces": DECOMPOSITION, "join": DECOMPOSITION,
    "solve": GROUND_TRUTH,
}
#: hooks whose `Task` default knows nothing (no forms, no cut, no pieces): a task has them only where it overrides them.
#: The format hooks' defaults are built on the abstract `answer_length`, so every task has those.
OPTIONAL = ("equivalents", "parts", "pieces", "join")
#: the roles a run's components play, in the order they are shown
ROLES = ("judge", "labeler", "scorer")


class Component:
    """A judge, labeler or scorer: which task hooks it reads, and which it cannot work without."""

    role: str

    def uses(self) -> frozenset[str]:
        """The task hooks this component reads where the task implements them."""
        return frozenset()

    def needs(self) -> frozenset[str]:
        """The task hooks without which this component keeps, labels or scores nothing of use."""
        return frozenset()


def implements(task: Task, hook: str) -> bool:
    """Whether `task` has `hook`: every format hook and `solve`; an optional hook where its class overrides `Task`'s default."""
    return hook not in OPTIONAL or getattr(type(task), hook) is not getattr(Task, hook)


def highest(hooks: Iterable[str]) -> str | None:
    """The class of the most knowledgeable of `hooks`; None for no hook."""
    return max((HOOKS[h] for h in hooks), key=CLASSES.index, default=None)


def components(cfg: DictConfig) -> list[Component]:
    """Every distinct judge, labeler and scorer the run builds: the scorer's, and those in the stages it runs (a
    combining judge as one, with its members), judges first. Call after `plugins.check` has passed."""
    allow = plugins.allowed(cfg)
    nodes = [cfg.scorer, *(cfg.stage[name] for name in cfg.loop.stages if name in cfg.stage)]
    found: dict[str, Component] = {}
    for node in _component_nodes(nodes):
        key = json.dumps(OmegaConf.to_container(node, resolve=True), sort_keys=True)
        if key not in found:
            found[key] = plugins.instantiate(node, allow)
    return sorted(found.values(), key=lambda c: ROLES.index(c.role))


def _component_nodes(nodes: Iterable[Any]) -> Iterator[DictConfig]:
    """The outermost config nodes under `nodes` whose `_target_` is a Component (interpolations resolved)."""
    from hydra._internal.utils import _locate

    for node in nodes:
        if OmegaConf.is_dict(node):
            target = node.get("_target_")
            if isinstance(target, str) and issubclass(_locate(target), Component):
                yield node
            else:
                yield from _component_nodes(node[k] for k in node)
        elif OmegaConf.is_list(node):
            yield from _component_nodes(node)


def task_name(cfg: DictConfig) -> str:
    """The task's class with its settings, as a person would recognise it: `StringTransform(mode=reverse)`."""
    settings = ", ".join(f"{k}={v}" for k, v in cfg.task.items() if k != "_target_")
    name = str(cfg.task._target_).rsplit(".", 1)[-1]
    return f"{name}({settings})" if settings else name


def refusal(cfg: DictConfig) -> str | None:
    """One line naming each component that needs a hook the task does not implement, the task and the hooks; None when all can work."""
    task = plugins.instantiate(cfg.task, plugins.allowed(cfg))
    lacking = [(c, [h for h in HOOKS if h in c.needs() and not implements(task, h)]) for c in components(cfg)]
    lacking = [(c, hooks) for c, hooks in lacking if hooks]
    if not lacking:
        return None
    missing = [h for h in HOOKS if any(h in hooks for _, hooks in lacking)]
    who = " and ".join(f"{c.role} {type(c).__name__} ({', '.join(hooks)})" for c, hooks in lacking)
    return (f"task {task_name(cfg)} does not implement {', '.join(missing)}, which {who} cannot work without; "
            f"choose ones that do not need them (judge=majority labeler=greedy read its format only)")


def ledger(cfg: DictConfig) -> dict[str, Any]:
    """What the run's components read of the task: per component the hooks it uses that the task implements and
    their class; the run's class (the highest short of ground truth, at least format); and which components read
    ground truth (their reads are counted as human labels by `pipeline.core.truth`)."""
    task = plugins.instantiate(cfg.task, plugins.allowed(cfg))
    parts = []
    for c in components(cfg):
        hooks = {h: HOOKS[h] for h in HOOKS if h in c.uses() and implements(task, h)}
        parts.append({"role": c.role, "name": type(c).__name__, "hooks": hooks, "class": highest(hooks)})
    below_truth = [cls for p in parts for cls in p["hooks"].values() if cls != GROUND_TRUTH]
    return {
        "task": task_name(cfg),
        "class": max([FORMAT, *below_truth], key=CLASSES.index),
        "ground_truth": [f"{p['role']} {p['name']}" for p in parts if GROUND_TRUTH in p["hooks"].values()],
        "components": parts,
    }


def describe(led: dict[str, Any]) -> str:
    """The ledger in one line: `format (judge MajorityJudge: format; labeler Greedy: none; scorer TrueAnswers: ground truth, ...)`."""
    def shown(cls: str | None) -> str:
        return "ground truth, counted as human labels" if cls == GROUND_TRUTH else cls or "none"

    parts = "; ".join(f"{p['role']} {p['name']}: {shown(p['class'])}" for p in led["components"])
    return f"{led['class']} ({parts})"
