"""The ten-step chain, one module per stage, each chosen by the config group `stage/<name>`; beside them the two
stage-like steps the loop runs itself: the seed (generation 0) and the shadow audit."""
from pipeline.stages.base import Stage

__all__ = ["Stage"]
