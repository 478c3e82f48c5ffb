"""'until' under bag replay (issue 18): stamps far from the clock, and use_sim_time before the first /clock."""
import pytest

from spacemind_ros.model.presets import build_tiny
from spacemind_ros.pipeline import ReasonerConfig, SpatialReasoner, WindowConfig
from spacemind_ros.scenes import walkthrough_frames

S = 1_000_000_000


@pytest.mark.parametrize("clock_ns,origin", [
    (0, 1_550_000_000 * S),  # use_sim_time, no /clock yet: the clock reads 0
    (1_700_000_000 * S, 1_800_000_000 * S),  # a bag stamped years after the wall clock
    (1_700_000_000 * S, 1_550_000_000 * S),  # a bag from years before it
], ids=["sim-time-zero", "bag-ahead-of-clock", "bag-behind-clock"])
def test_until_at_a_bag_stamp_works_whatever_the_clock(clock_ns, origin):
    model, processor = build_tiny(seed=0)
    r = SpatialReasoner(model, processor, WindowConfig(min_gap_s=0.0, min_frames=2), ReasonerConfig(),
                        clock=lambda: clock_ns)
    frames = walkthrough_frames(num_frames=8, height=60, width=80)
    for stamp, img in frames:
        assert r.add_frame(origin + stamp, img)
    until = origin + frames[5][0]
    a = r.ask("How many boxes?", until=until)
    assert a.success, a.error_message
    assert max(a.frame_stamps) == until
    later = r.ask("How many boxes?", until=origin + frames[-1][0] + 100 * S)
    if clock_ns < origin:  # past both the clock and the newest frame
        assert later.error_code == "BAD_REQUEST" and "in the future" in later.error_message
    else:  # the clock is later than that: the newest frames are used
        assert later.success and max(later.frame_stamps) == origin + frames[-1][0]
    r.close()
