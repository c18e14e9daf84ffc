"""The `round` config group: which levels a curate round labels, relative to the champion's frontier."""
from __future__ import annotations

import pytest

from pipeline.components.rounds import Offsets, Span
from pipeline.core import plugins
from tests.conftest import make_cfg


def test_the_default_round_is_the_fixed_offsets_two_and_three_past_the_frontier(tmp_path):
    cfg = make_cfg(tmp_path, experiment=None)
    rnd = plugins.instantiate(cfg.round, plugins.PROJECT)
    assert isinstance(rnd, Offsets) and rnd.ahead == (2, 3)
    assert rnd.levels(5, None) == [7, 8]
    curate = plugins.instantiate(cfg.stage.curate, plugins.PROJECT)
    assert curate.round.ahead == (2, 3)  # curate and the pilots label what the group sets
    assert plugins.instantiate(make_cfg(tmp_path, experiment="general").round, plugins.PROJECT).ahead == (0, 1)  # answers as posed


def test_a_span_grows_with_the_frontier_and_a_bad_one_is_refused():
    span = Span()
    assert span.levels(5, None) == [6, 7, 8, 9, 10] and span.levels(12, None) == list(range(13, 25))
    assert span.levels(0, None) == [1, 2] and span.levels(1, None) == [2, 3]  # at least two levels from a small frontier
    assert span.levels(12, 15) == [13, 14, 15]  # clipped to the cap
    with pytest.raises(ValueError):
        Span(factor=0.5)
    with pytest.raises(ValueError):
        Span(min_width=3, max_width=2)
    with pytest.raises(ValueError):
        Offsets(())


def test_a_span_with_a_max_width_stops_growing_once_twice_the_frontier_is_wider():
    span = Span(max_width=12)
    assert span.levels(5, None) == [6, 7, 8, 9, 10]  # narrower than the limit: the plain span
    assert span.levels(20, None) == list(range(21, 33))  # 21..40 limited to twelve levels
    assert span.levels(20, 25) == list(range(21, 26))  # and still clipped to the cap
