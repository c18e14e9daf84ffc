"""The stage interface: read inputs from the run folder, write outputs into `gen_<k>/<name>/`."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from pipeline.context import Context


class Stage(ABC):
    #: the folder name under gen_<k>/ and the name in `loop.stages`
    name: str

    @abstractmethod
    def run(self, ctx: Context) -> dict[str, Any]:
        """Do the stage's work for `ctx.gen`; return a short summary (numbers) for the event log.

        The loop marks the stage done only after this returns, so outputs must be complete by then.
        """
