"""Which levels a curate round labels, relative to the champion's frontier (the `round` config group).

A round is set by what the labeler can answer. A labeler that answers problems as posed (greedy, equivalents) is right
mostly at the frontier and the level past it: fixed offsets [0, 1]. The split labeler answers a problem from its halves,
so it is right about as far as the halves are problems the champion masters: up to about twice the frontier. Fixed
offsets ([2, 3], the default) keep a round's length and cost the same however far the ladder has climbed; a span grows
with the frontier (f+1..2f), so one round can reach as far as decomposition does.

Every round clips its levels to the ladder's cap when one is set (`eval.max_level`): past it no gate can measure
anything, and longer rows only make training dearer.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence


class Round(ABC):
    """The levels a round labels, given the champion's frontier and the ladder's cap (None: no cap)."""

    @abstractmethod
    def levels(self, frontier: int, cap: int | None) -> list[int]:
        """The round's levels, in order, each once."""

    @staticmethod
    def clip(levels: list[int], cap: int | None) -> list[int]:
        """Levels from 1 up and at most `cap`, each once, in order: a level past the cap becomes the cap."""
        return sorted({min(lv, cap) if cap is not None else lv for lv in levels if lv >= 1})


class Offsets(Round):
    """frontier + each of `ahead` (`round=offsets`: [2, 3]; `round=as_posed`: [0, 1])."""

    def __init__(self, ahead: Sequence[int] = (2, 3)) -> None:
        if not ahead or min(ahead) < 0:
            raise ValueError(f"round offsets must be a non-empty list of levels >= 0 past the frontier, got {list(ahead)}")
        self.ahead = tuple(ahead)

    def levels(self, frontier: int, cap: int | None) -> list[int]:
        return self.clip([frontier + d for d in self.ahead], cap)


class Span(Round):
    """Every level from frontier + `start` to `factor` x frontier (`round=span`: f+1..2f), at least `min_width` levels
    from the first and at most `max_width` (None: no limit): from a frontier of 5, levels 6..10; of 12, 13..24. Problems
    of up to twice the frontier have halves the champion masters, which a decomposing labeler asks for; `max_width`
    bounds how much one generation has to learn, and so its cost, once the frontier is large."""

    def __init__(self, start: int = 1, factor: float = 2.0, min_width: int = 2, max_width: int | None = None) -> None:
        if start < 0 or factor < 1 or min_width < 1 or (max_width is not None and max_width < min_width):
            raise ValueError(f"a span needs start >= 0, factor >= 1, min_width >= 1 and max_width (when set) >= min_width "
                             f"(got {start}, {factor}, {min_width}, {max_width})")
        self.start, self.factor, self.min_width, self.max_width = start, factor, min_width, max_width

    def levels(self, frontier: int, cap: int | None) -> list[int]:
        first = frontier + self.start
        last = max(int(self.factor * frontier), first + self.min_width - 1)
        if self.max_width is not None:
            last = min(last, first + self.max_width - 1)
        return self.clip(list(range(first, last + 1)), cap)
