"""Request limits (issue 18): every text field, the prompt budget and timeout_s are checked before any model work."""
import math

import pytest

from spacemind_ros.model.presets import build_tiny
from spacemind_ros.pipeline import ReasonerConfig, SpatialReasoner, WindowConfig
from spacemind_ros.pipeline.request_limits import MAX_OPTION_CHARS, MAX_PROMPT_CHARS, MAX_START_CHARS
from spacemind_ros.scenes import walkthrough_frames

S = 1_000_000_000


@pytest.fixture(scope="module")
def reasoner():
    model, processor = build_tiny(seed=0)
    r = SpatialReasoner(model, processor, WindowConfig(min_gap_s=0.0), ReasonerConfig())
    for stamp, img in walkthrough_frames(num_frames=8, height=60, width=80):
        r.add_frame(stamp + S, img)
    yield r
    r.close()


def options(n, chars):
    return [f"{chr(65 + i)}. " + "x" * (chars - 3) for i in range(n)]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(question="Which one?", options=options(2, MAX_OPTION_CHARS + 1)),
         f"option 1 has {MAX_OPTION_CHARS + 1} characters; the limit is {MAX_OPTION_CHARS}"),
        (dict(question="Which one?", options=options(26, 5000)), "option 1 has 5000 characters"),
        (dict(question="q" * 1990, options=options(26, 150)), f"prompt budget is {MAX_PROMPT_CHARS}"),
        (dict(question="Which one?", task="t" * 100_000), "task has 100000 characters"),
        (dict(question="How far?", timeout=math.inf), "timeout_s inf is out of range"),
        (dict(question="How far?", timeout=1e10), "out of range"),
        (dict(question="How far?", timeout=math.nan), "out of range"),
        (dict(question="How far?", timeout=-1.0), "out of range"),
    ],
    ids=["option-201", "26x5kB", "budget", "task-100k", "timeout-inf", "timeout-1e10", "timeout-nan",
         "timeout-negative"],
)
def test_oversized_queries_are_bad_requests(reasoner, kwargs, match):
    a = reasoner.ask(**kwargs)
    assert not a.success and a.error_code == "BAD_REQUEST" and match in a.error_message, a.error_message
    assert len(a.error_message) < 400  # never echoes the oversized text
    assert "encode" not in a.stage_times_s and not a.frame_stamps  # rejected before any model work
    assert reasoner.ask("How many boxes?").success


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(goal="the sofa", start="s" * (MAX_START_CHARS + 1)), f"start has {MAX_START_CHARS + 1} characters"),
        (dict(goal="g" * 83_000), "goal has 83000 characters"),
        (dict(goal="the sofa", timeout=math.inf), "out of range"),
    ],
    ids=["start", "goal", "timeout-inf"],
)
def test_oversized_routes_are_bad_requests(reasoner, kwargs, match):
    a = reasoner.route(**kwargs)
    assert not a.success and a.error_code == "BAD_REQUEST" and match in a.error_message, a.error_message
    assert len(a.error_message) < 400


def test_limits_leave_ordinary_requests_alone(reasoner):
    assert reasoner.ask("Which is closest to the door?", options=options(26, MAX_OPTION_CHARS // 2)).success
    assert reasoner.ask("How many boxes?", timeout=3600.0).success
    assert reasoner.route("the blue box", start="by the red box, facing the door").success
