"""Test set-up: every rclpy use in this session is loopback-only, on a domain of its own."""
import os
import random

from spacemind_ros.ros.environment import apply_loopback_environment

# Before any test imports rclpy: loopback discovery, the shipped Fast DDS profile, a domain for this run.
os.environ.pop("ROS_DOMAIN_ID", None)
apply_loopback_environment(random.Random(os.getpid()).randint(1, 100))


import pytest  # noqa: E402

from spacemind_ros.ros.shm_segments import remove_stale_segments  # noqa: E402


def pytest_sessionstart(session):
    remove_stale_segments(min_age_s=60.0)  # left by an earlier run that was killed


def pytest_sessionfinish(session, exitstatus):
    # Nodes this run stopped with SIGKILL (tests of stuck children, timeouts) could not close DDS: their shared
    # memory stays in /dev/shm (RAM) until removed.
    remove_stale_segments(min_age_s=5.0)

NON_SQUARE_HW = (42, 56)  # VGGT input of 4:3 frames in crop mode at the tiny preset's 56 px


@pytest.fixture(scope="session")
def synth_scene(tmp_path_factory):
    """One generated scene (seed 3) at 64x48, 12 frames, for the training stages' tests: ``root/synth/`` (bag with
    image, depth, pose, camera info and semantic labels) and ``root/q.jsonl`` (its first 4 questions, bag paths
    relative to ``root``). Read it, do not write into it: tests share it."""
    import json

    from spacemind_ros.scenes import SceneSettings, write_scene

    root = tmp_path_factory.mktemp("synth_scene")
    summary = write_scene(3, root / "synth", SceneSettings(width=64, height=48, frames=12, fps=4.0))
    (root / "q.jsonl").write_text("".join(json.dumps(r | {"bag": f"synth/{r['bag']}"}) + "\n"
                                          for r in summary["records"][:4]))
    return root


@pytest.fixture(scope="session")
def tiny_engines(tmp_path_factory):
    """The tiny preset's three parts exported once per test session (fp32, VGGT at 42x56, the size 4:3 frames give
    in crop mode): ``(model, processor, engine_dir, exports)``. Child processes find them via SPACEMIND_ENGINE_DIR."""
    from spacemind_ros.engine.cache import ENV_DIR, ensure_exports
    from spacemind_ros.model.presets import build_tiny
    from spacemind_ros.scenes import walkthrough_frames

    model, processor = build_tiny(seed=0)
    engine_dir = tmp_path_factory.mktemp("engines")
    exports = ensure_exports(model, engine_dir, "fp32", (1, 64), vggt_hw=NON_SQUARE_HW)
    # What the CLI and the node will ask for with the processor's own preprocessing (if another size).
    hw = tuple(processor.vggt_frame(walkthrough_frames(num_frames=1)[0][1]).shape[-2:])
    if hw != NON_SQUARE_HW:
        ensure_exports(model, engine_dir, "fp32", (1, 64), parts=("vggt", "cgmf"), vggt_hw=hw)
    previous = os.environ.get(ENV_DIR)
    os.environ[ENV_DIR] = str(engine_dir)
    yield model, processor, engine_dir, exports
    if previous is None:
        os.environ.pop(ENV_DIR, None)
    else:
        os.environ[ENV_DIR] = previous
