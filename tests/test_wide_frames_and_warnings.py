"""Issue 18 item 3 and the padding warning: no frame shape can break a query, and a warning is said once."""
import logging

import numpy as np
import torch

from spacemind_ros.model.presets import build_tiny
from spacemind_ros.model.vggt.preprocessing import preprocess_image, resized_shape, stack_images
from spacemind_ros.pipeline import ReasonerConfig, SpatialReasoner, WindowConfig
from spacemind_ros.scenes import walkthrough_frames

S = 1_000_000_000


def test_extreme_aspect_ratios_keep_at_least_one_patch():
    for w, h in [(640, 1), (5000, 60), (1, 640), (60, 5000)]:
        for mode in ("crop", "pad"):
            nw, nh = resized_shape(w, h, mode=mode, target_size=56)
            assert nw >= 14 and nh >= 14, (w, h, mode)
            img = preprocess_image(np.zeros((h, w, 3), np.uint8), mode=mode, target_size=56)
            assert img.shape[1] >= 14 and img.shape[2] >= 14
    assert resized_shape(640, 480) == (518, 392)  # ordinary frames: the official rule unchanged


def test_a_very_wide_frame_in_the_window_does_not_break_queries():
    model, processor = build_tiny(seed=0)
    # max_aspect=0 turns the intake policy off, so the frame reaches the model: the model side must cope too.
    r = SpatialReasoner(model, processor, WindowConfig(min_gap_s=0.0, max_aspect=0), ReasonerConfig())
    for stamp, img in walkthrough_frames(num_frames=6, height=60, width=80):
        r.add_frame(stamp + S, img)
    r.add_frame(r.window.latest_stamp() + S, np.zeros((1, 640, 3), np.uint8))
    a = r.ask("How many boxes?")
    assert a.success, a.error_message
    r.close()


def test_padding_warning_is_said_once(caplog):
    frames = [torch.zeros(3, 17, 31, dtype=torch.uint8), torch.zeros(3, 19, 31, dtype=torch.uint8)]
    with caplog.at_level(logging.WARNING, logger="spacemind_ros"):
        for _ in range(5):
            assert stack_images(frames).shape == (2, 3, 19, 31)
    assert sum("padding" in r.getMessage() for r in caplog.records) == 1
