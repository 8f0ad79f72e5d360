"""The collector settings of a long-running process."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from core import gctune


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_start_up_objects_are_frozen_and_the_young_generation_is_collected_less_often(restored_gc: None) -> None:
    middle, old = gc.get_threshold()[1:]
    gctune.tune_for_service()
    assert gc.get_freeze_count() > 1000  # this test process's modules at least
    assert gc.get_threshold() == (gctune.YOUNG, middle, old)


def test_cycles_made_after_start_up_are_still_collected(restored_gc: None) -> None:
    gctune.tune_for_service(young=100)
    cycle: list[object] = []
    cycle.append(cycle)
    ref = id(cycle)
    del cycle
    gc.collect(0)
    assert all(id(o) != ref for o in gc.get_objects(0))
