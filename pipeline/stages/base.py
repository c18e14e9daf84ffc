"""The stage interface: read inputs from the run folder, write outputs into `gen_<k>/<name>/`."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from pipeline.core.context import Context
from pipeline.core.validate import ConfigError


class Stage(ABC):
    #: the folder name under gen_<k>/ and the name in `loop.stages`
    name: str
    #: whether `veto` is implemented: only such a stage may be named in `loop.approve` (validate.py checks)
    vetoable: bool = False

    @abstractmethod
    def run(self, ctx: Context) -> dict[str, Any]:
        """Do the stage's work for `ctx.gen`; return a short summary (numbers) for the event log.

        The loop marks the stage done only after this returns, so outputs must be complete by then.
        """

    def decision(self, ctx: Context, summary: dict[str, Any]) -> list[str]:
        """What a human is asked to accept, in a few lines; by default the summary's key=value pairs."""
        return [f"{k}={v}" for k, v in summary.items() if k != "seconds"]

    def veto(self, ctx: Context, summary: dict[str, Any]) -> dict[str, Any]:
        """Undo the decision in this stage's outputs after a human refused it; return the updated summary.
        A stage without one (`vetoable` False) cannot be approved: validate refuses that config before any
        work, and this refuses it for a caller that skipped validation."""
        raise ConfigError(f"stage {self.name} has no veto; remove it from loop.approve")
