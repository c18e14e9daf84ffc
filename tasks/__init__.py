"""Task plug-ins: what the models learn. Each task samples problems for a difficulty level."""
from tasks.base import Problem, Task

__all__ = ["Problem", "Task"]
