"""The scan's process-wide setting: the GIL switch interval while scans run."""

import sys

import pytest

from emotrack.library.pipeline import SWITCH_INTERVAL_S, quick_switches


def test_the_switch_interval_is_lowered_while_scans_run_and_then_restored():
    before = sys.getswitchinterval()
    assert before > SWITCH_INTERVAL_S  # Python's default, 5 ms
    with quick_switches():
        assert sys.getswitchinterval() == SWITCH_INTERVAL_S
        with quick_switches():  # a second scan at the same time
            pass
        assert sys.getswitchinterval() == SWITCH_INTERVAL_S  # the first still runs
    assert sys.getswitchinterval() == before


def test_a_scan_that_fails_still_restores_it():
    before = sys.getswitchinterval()
    with pytest.raises(KeyboardInterrupt), quick_switches():
        raise KeyboardInterrupt
    assert sys.getswitchinterval() == before
