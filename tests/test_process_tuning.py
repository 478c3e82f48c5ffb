"""The node's process settings: the GIL hand-over interval."""
import sys

from spacemind_ros.process_tuning import tune_for_streaming


def test_tune_for_streaming_sets_the_gil_interval_and_is_repeatable():
    before = sys.getswitchinterval()
    try:
        tune_for_streaming(gil_switch_interval_s=0.0003)
        tune_for_streaming(gil_switch_interval_s=0.0003)  # a second call is harmless
        assert abs(sys.getswitchinterval() - 0.0003) < 1e-9
    finally:
        sys.setswitchinterval(before)
