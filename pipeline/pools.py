"""What earlier data a generation trains on (`data=`): keep every promoted round, or only the latest.

Gerstgrasser et al. (2024, arXiv 2404.01413) found that self-training collapses when each round's
data replaces the last and does not when it accumulates; the two policies make that one override.
Every stage that reads earlier data (build, experiment, curate, review, train) reads it through
`Context.pool_paths()`, so a policy changes them all at once.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.data import load_rows

if TYPE_CHECKING:
    from pipeline.context import Context


class Accumulate:
    """The seed's ground truth plus every promoted generation's curated round, oldest first (the default)."""

    def paths(self, ctx: Context) -> list[Path]:
        return [ctx.run.stage_dir(g, "curate") / "data" for g in range(ctx.gen) if ctx.promoted(g)]


class Replace(Accumulate):
    """The latest promoted generation's round only (the seed's ground truth while the seed is champion):
    each round replaces the last. An empty round is passed over: a pool needs rows, and the seed's has them."""

    def paths(self, ctx: Context) -> list[Path]:
        return next([p] for p in reversed(super().paths(ctx)) if len(load_rows(p)))
