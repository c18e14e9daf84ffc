"""Safe instantiation: a config's `_target_` may name only the project's own classes and the
packages a user allows on purpose (`plugins.allow: [my_pkg]`), never an arbitrary callable.

Without this, `stage/train._target_=os.system` is one override away from running a shell command.
A target is checked as text first (nothing outside the allowed packages is even imported), then
resolved: it must be a class defined in an allowed package (`pipeline.loop.os.system` names a
function of another module and is refused).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from hydra.utils import instantiate as hydra_instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf

PROJECT = ("pipeline", "tasks")


class PluginError(ValueError):
    """A `_target_` outside the project's packages and the user's allow-list."""


def _targets(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    """(config key, target) for every `_target_` under `node`."""
    if isinstance(node, (DictConfig, dict)):
        items = node.items_ex(resolve=False) if isinstance(node, DictConfig) else node.items()
        for key, value in items:
            sub = f"{path}.{key}" if path else str(key)
            if key == "_target_":
                yield sub, value
            else:
                yield from _targets(value, sub)
    elif isinstance(node, (ListConfig, list, tuple)):
        for i, value in enumerate(node):
            yield from _targets(value, f"{path}[{i}]")


def _within(module: str, packages: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def allowed(cfg: DictConfig | dict[str, Any]) -> tuple[str, ...]:
    """The project's packages plus the config's `plugins.allow` (entries like `my_pkg` or `my_pkg.`)."""
    extra = OmegaConf.select(cfg, "plugins.allow", default=None) if isinstance(cfg, DictConfig) else None
    return PROJECT + tuple(str(p).rstrip(".") for p in (extra or []))


def check(node: Any, packages: Iterable[str], path: str = "") -> None:
    """Raise PluginError naming the first `_target_` under `node` that is not a class of `packages`."""
    from hydra._internal.utils import _locate

    packages = tuple(packages)
    for key, target in _targets(node, path):
        shown = f"{key}={target}"
        if not isinstance(target, str) or not _within(target, packages):
            raise PluginError(f"{shown} is not allowed: targets must be classes in {', '.join(p + '.' for p in packages)} "
                              f"(add a package of your own to plugins.allow)")
        try:
            obj = _locate(target)
        except ImportError as err:
            raise PluginError(f"{shown} cannot be found: {err}".splitlines()[0]) from None
        if not isinstance(obj, type) or not _within(obj.__module__, packages):
            raise PluginError(f"{shown} is not allowed: it resolves to {getattr(obj, '__module__', '?')}."
                              f"{getattr(obj, '__qualname__', type(obj).__name__)}, not a class of {', '.join(packages)}")


def instantiate(node: Any, packages: Iterable[str], **kwargs: Any) -> Any:
    """`hydra.utils.instantiate`, after `check` passes for every target in `node` (nested ones too)."""
    check(node, packages)
    return hydra_instantiate(node, **kwargs)


def option(group: str, spec: str, root: Any) -> Any:
    """A config group's option by name, or a variant of it with keys set: `committee`,
    `committee:min_agreement=0.8,members=6` -> conf/<group>/committee.yaml with those keys set. Its interpolations
    (`${recipe.steps}`) take their values from `root`, the run's config, as they would in that run."""
    name, _, sets = spec.partition(":")
    cfg = OmegaConf.load(Path(__file__).resolve().parents[2] / "conf" / group / f"{name}.yaml")
    if sets:
        cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(sets.split(",")))
    full = OmegaConf.create(OmegaConf.to_container(root, resolve=False))
    full[group] = cfg
    node = full[group]
    OmegaConf.resolve(node)
    return node
