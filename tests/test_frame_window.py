"""Frame window: keyframe policy, eviction, out-of-order and duplicate stamps, sampling, bad frames."""
import threading

import numpy as np
import pytest

from spacemind_ros.errors import BadRequestError, NotEnoughFramesError
from spacemind_ros.pipeline.frame_window import FrameWindow, WindowConfig, sample_indices

S = 1_000_000_000
IMG = np.zeros((4, 6, 3), np.uint8)


def window(**kw):
    return FrameWindow(WindowConfig(**{"min_gap_s": 0.0, "min_frames": 1, **kw}))


def test_sampling_34_drop_ends_gives_32_uniform():
    cfg = WindowConfig()
    idx = sample_indices(100, cfg)
    full = np.linspace(0, 99, 34).round().astype(int)
    assert len(idx) == 32 and idx == full[1:-1].tolist()
    assert sample_indices(20, cfg) == list(range(20))
    assert len(sample_indices(33, cfg)) == 32 and len(set(sample_indices(33, cfg))) == 32


def test_keyframe_gap_and_duration_eviction():
    w = window(min_gap_s=0.5, duration_s=2.0)
    kept = [w.offer(int(t * 0.1 * S), IMG) for t in range(40)]  # 10 Hz for 4 s
    assert sum(kept) == 8 and w.stats.skipped_gap == 32
    stamps = [f.stamp_ns for f in w.frames()]
    assert stamps[-1] == int(3.5 * S) and stamps[0] >= stamps[-1] - 2 * S  # window covers <= 2 s
    assert w.stats.evicted == 8 - len(stamps)


def test_capacity_bound_frees_features():
    evicted = []
    w = FrameWindow(WindowConfig(max_frames=3, min_gap_s=0.0, min_frames=1), on_evict=evicted.append)
    for i in range(5):
        w.offer(i * S, IMG)
    w.frames()[0].features = w.frames()[0].vggt_input = "cached"
    w.offer(5 * S, IMG)
    assert len(w) == 3 and len(evicted) == 3
    assert all(f.features is None and f.vggt_input is None for f in evicted)


def test_out_of_order_and_duplicates():
    w = window(min_gap_s=0.1)
    assert w.offer(2 * S, IMG) and w.offer(1 * S, IMG) and w.offer(3 * S, IMG)
    assert not w.offer(2 * S, IMG) and w.stats.duplicates == 1
    assert not w.offer(int(2.05 * S), IMG)  # too close to a neighbour
    assert [f.stamp_ns for f in w.frames()] == [1 * S, 2 * S, 3 * S]
    w2 = window(duration_s=5.0)
    w2.offer(100 * S, IMG)
    assert not w2.offer(1 * S, IMG) and w2.stats.too_old == 1


def test_until_and_not_enough_frames():
    w = window(min_frames=3)
    with pytest.raises(NotEnoughFramesError, match="no frames yet"):
        w.sample()
    for i in range(1, 6):
        w.offer(i * S, IMG)
    assert [f.stamp_ns for f in w.sample(until_ns=3 * S)] == [S, 2 * S, 3 * S]
    with pytest.raises(NotEnoughFramesError, match="2 frame"):
        w.sample(until_ns=2 * S)
    with pytest.raises(BadRequestError, match="before the oldest frame"):
        w.sample(until_ns=S // 2)


@pytest.mark.parametrize(
    "image,match",
    [
        (np.full((4, 4, 3), np.nan, np.float32), "NaN or inf"),
        (np.full((4, 4, 3), np.inf), "NaN or inf"),
        (np.zeros((4, 4)), "must be \\[H, W, 3\\]"),
        (np.zeros((4, 4, 4), np.uint8), "must be \\[H, W, 3\\]"),
        (np.zeros((0, 4, 3), np.uint8), "must be \\[H, W, 3\\]"),
        (np.zeros((4, 4, 3), np.int32), "dtype int32"),
    ],
)
def test_bad_frames_raise_and_are_counted(image, match):
    w = window()
    with pytest.raises(BadRequestError, match=match):
        w.offer(S, image)
    assert w.stats.invalid == 1 and len(w) == 0


def test_float_frames_are_converted():
    w = window()
    w.offer(S, np.full((2, 2, 3), 0.5, np.float32))
    assert w.frames()[0].image.dtype == np.uint8 and w.frames()[0].image[0, 0, 0] == 128


def test_ingest_copies_and_is_thread_safe():
    w = window(max_frames=10_000)
    img = np.zeros((4, 4, 3), np.uint8)
    w.offer(0, img)
    img[:] = 255
    assert w.frames()[0].image.max() == 0  # the window owns a copy
    buffer = np.zeros((4, 4, 3), np.uint8)
    w.offer(1, buffer, copy=False)  # a received message's buffer: kept as it is, no copy
    assert np.shares_memory(w.frames()[1].image, buffer)
    padded = np.zeros((4, 6, 3), np.uint8)[:, :4]
    w.offer(2, padded, copy=False)
    assert w.frames()[2].image.flags.c_contiguous  # strided rows are made contiguous for the encoders

    def feed(offset):
        for i in range(500):
            w.offer((i * 4 + offset + 4) * 1000, IMG)

    threads = [threading.Thread(target=feed, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for _ in range(200):
        w.sample()
    for t in threads:
        t.join()
    stamps = [f.stamp_ns for f in w.frames()]
    assert len(stamps) == 2003 and stamps == sorted(stamps)
