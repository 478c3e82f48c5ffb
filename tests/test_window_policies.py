"""Frame window policies (issue 18): stamps far ahead or behind, real time jumps, image size/aspect, byte budget."""
import numpy as np
import pytest

from spacemind_ros.errors import BadRequestError
from spacemind_ros.pipeline.frame_window import FrameWindow, WindowConfig

S = 1_000_000_000
HOUR = 3600 * S
IMG = np.zeros((4, 6, 3), np.uint8)


def window(**kw):
    return FrameWindow(WindowConfig(**{"min_gap_s": 0.0, "min_frames": 1, **kw}))


def stream(w, start_ns, n, rate_hz=30.0, image=IMG):
    return [w.offer(start_ns + int(i * S / rate_hz), image) for i in range(n)]


def stamps(w):
    return [f.stamp_ns for f in w.frames()]


@pytest.mark.parametrize("ahead", [HOUR, 10 * 365 * 24 * HOUR])
def test_one_frame_far_ahead_is_rejected_and_counted_not_evicting(ahead):
    w = window(duration_s=60.0)
    assert all(stream(w, 1000 * S, 30))
    before = stamps(w)
    assert not w.offer(1001 * S + ahead, IMG)  # one frame stamped an hour (or ten years) ahead
    assert stamps(w) == before and w.stats.future == 1 and w.drops()["future"] == 1
    assert all(stream(w, 1001 * S + S // 10, 30))  # the normal stream goes on being kept
    assert len(w) == 60 and max(stamps(w)) < 1003 * S


def test_first_frame_far_ahead_is_outvoted_by_the_stream():
    w = window(duration_s=60.0, jump_confirm_frames=3)
    assert w.offer(1000 * S + HOUR, IMG)  # nothing to compare with yet
    kept = stream(w, 1000 * S, 10)
    assert kept[:2] == [False, False] and all(kept[2:])  # three consistent frames confirm the stream's time
    assert max(stamps(w)) < 1001 * S and w.stats.time_jumps == 1 and w.stats.too_old == 2


def test_bag_looped_or_clock_reset_recovers_after_a_few_frames():
    w = window(duration_s=60.0, jump_confirm_frames=3)
    stream(w, 5000 * S, 90)  # 3 s of a bag
    kept = stream(w, 5000 * S - 20 * S, 30)  # the bag restarts 20 s earlier than its first frame
    assert kept[:2] == [False, False] and all(kept[2:])
    assert min(stamps(w)) >= 4980 * S and max(stamps(w)) < 4982 * S  # only the new timeline is left
    assert w.stats.time_jumps == 1
    kept = stream(w, 9000 * S, 10)  # a real forward jump (a long stall, a bag skipped ahead) recovers too
    assert kept[:2] == [False, False] and all(kept[2:]) and w.stats.time_jumps == 2
    assert min(stamps(w)) > 8900 * S  # the horizon evicted the old timeline


def test_inconsistent_outliers_never_confirm_a_jump():
    w = window(duration_s=60.0, jump_confirm_frames=3)
    stream(w, 1000 * S, 30)
    for k in range(20):  # scattered bogus stamps between normal frames
        assert not w.offer((k + 2) * HOUR, IMG)
        assert w.offer(1001 * S + k * S // 30, IMG)
    assert max(stamps(w)) < 1002 * S and w.stats.time_jumps == 0 and w.stats.future == 20


def test_old_stamps_far_from_any_clock_are_fine():
    """Bag replay: stamps from years ago (or far in the future) are accepted; only relative time matters."""
    for origin in (1, 1_000_000 * S, 4_000_000_000 * S):
        w = window(duration_s=10.0)
        assert all(stream(w, origin, 60))
        assert len(w.sample()) == 32


def test_wide_frames_are_rejected_with_a_reason():
    w = window(max_aspect=8.0)
    with pytest.raises(BadRequestError, match="aspect"):
        w.offer(S, np.zeros((1, 640, 3), np.uint8))
    with pytest.raises(BadRequestError, match="aspect"):
        w.offer(2 * S, np.zeros((900, 100, 3), np.uint8))
    assert w.offer(3 * S, np.zeros((80, 640, 3), np.uint8))  # 8:1 is still taken
    assert len(w) == 1 and w.drops()["aspect"] == 2


def test_huge_frames_are_downscaled_on_intake():
    w = window(max_pixels=1920 * 1080)
    assert w.offer(S, np.full((2160, 3840, 3), 7, np.uint8))  # 4K
    img = w.frames()[0].image
    assert img.shape == (1080, 1920, 3) and img.dtype == np.uint8 and int(img[5, 5, 0]) == 7
    assert w.offer(2 * S, np.zeros((9000, 9000, 3), np.uint8))
    h, wd, _ = w.frames()[1].image.shape
    assert h * wd <= 1920 * 1080 and h == wd and w.stats.downscaled == 2
    assert w.offer(3 * S, np.zeros((480, 640, 3), np.uint8)) and w.frames()[2].image.shape == (480, 640, 3)


def test_window_bytes_are_bounded():
    frame_bytes = 480 * 640 * 3
    w = window(max_frames=128, max_bytes=10 * frame_bytes)
    for i in range(40):
        assert w.offer(i * S // 10, np.zeros((480, 640, 3), np.uint8))
        assert w.nbytes <= 10 * frame_bytes
    assert len(w) == 10 and w.nbytes == 10 * frame_bytes
    with pytest.raises(BadRequestError, match="bytes"):
        window(max_bytes=100, max_pixels=0).offer(S, np.zeros((10, 10, 3), np.uint8))


def test_drops_by_reason_cover_every_rejection():
    w = window(duration_s=5.0, min_gap_s=0.1)
    w.offer(100 * S, IMG)
    w.offer(100 * S, IMG)  # duplicate
    w.offer(100 * S + 1, IMG)  # inside the keyframe gap: skipped, not a drop
    w.offer(1 * S, IMG)  # far behind
    with pytest.raises(BadRequestError):
        w.offer(101 * S, np.zeros((2, 2), np.uint8))
    assert w.drops() == {"duplicate": 1, "too_old": 1, "future": 0, "invalid": 1, "aspect": 0, "too_large": 0}
    assert w.stats.skipped_gap == 1


def test_big_frames_the_keyframe_rule_drops_are_not_downscaled():
    w = window(min_gap_s=0.25, max_pixels=100)
    big = np.zeros((40, 40, 3), np.uint8)
    assert w.offer(S, big) and not w.offer(S + S // 30, big) and w.offer(S + S // 2, big)
    assert w.stats.downscaled == 2 and w.stats.skipped_gap == 1
    assert not w.offer(S, big) and w.stats.duplicates == 1 and w.stats.downscaled == 2
