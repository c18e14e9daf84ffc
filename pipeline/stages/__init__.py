"""The ten-step chain, one module per stage. Each stage is chosen by the config group `stage/<name>`."""
from pipeline.stages.base import Stage

__all__ = ["Stage"]
