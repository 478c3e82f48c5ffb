"""Queries of several robots on one model run as one batch (InternViT, VGGT, CGMF, padded greedy decode) and give
exactly the answers each gets alone, on the tiny (random) and small (trained) models."""
import threading
import time

import pytest

from spacemind_ros.fleet import InferenceScheduler
from spacemind_ros.model.presets import load_model
from spacemind_ros.pipeline import ReasonerConfig, SpatialReasoner, WindowConfig
from spacemind_ros.scenes import walkthrough_frames

S = 1_000_000_000
QUESTIONS = [  # different lengths: the batch is padded
    ("How many chairs are in the room?", ()),
    ("What is the size of this room (in square meters)? If multiple rooms are shown, estimate the total.", ()),
    ("Which of these objects is closest to the door?", ("A. sofa", "B. table", "C. bed", "D. sink")),
    ("How far is the sofa from the bed, in meters?", ()),
]


def robots(model, processor, scheduler, n=4, **cfg):
    """n robots with different windows (each its own slice of a walk-through) on one model and scheduler."""
    out = []
    frames = walkthrough_frames(num_frames=24 + 6 * n, height=60, width=80)
    for k in range(n):
        r = SpatialReasoner(model, processor, WindowConfig(min_gap_s=0.0), ReasonerConfig(queue_limit=4, **cfg),
                            scheduler=scheduler, name=f"robot{k}")
        for stamp, img in frames[6 * k: 6 * k + 24]:
            r.add_frame(stamp + S, img)
        r.wait_features()
        out.append(r)
    return out


def ask_together(rs, scheduler, route=False):
    """Hold the scheduler's thread, queue one query per robot, release: they run as one batch."""
    gate, started = threading.Event(), threading.Event()
    blocker = scheduler.lane("blocker", 0)
    blocker.submit(lambda: (started.set(), gate.wait(30)))
    assert started.wait(10)
    answers = [None] * len(rs)

    def ask(k):
        question, options = QUESTIONS[k % len(QUESTIONS)]
        answers[k] = rs[k].route("the bed") if route and k % 2 else rs[k].ask(question, options=options)

    threads = [threading.Thread(target=ask, args=(k,)) for k in range(len(rs))]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while sum(lane.waiting() for lane in scheduler.lanes) < len(rs):
        assert time.monotonic() < deadline, [a for a in answers if a is not None]  # a query failed before queueing
        time.sleep(0.01)
    gate.set()
    for t in threads:
        t.join(60)
    blocker.close()
    return answers


@pytest.mark.parametrize("preset,kv_cache", [("tiny", True), ("tiny", False), ("small", True)])
def test_batched_answers_equal_one_by_one(preset, kv_cache):
    model, processor = load_model(None, preset=preset)
    batched_scheduler = InferenceScheduler(nice=0, max_batch=4)
    batched_robots = robots(model, processor, batched_scheduler, kv_cache=kv_cache)
    together = ask_together(batched_robots, batched_scheduler, route=True)
    assert [a.batch_size for a in together] == [4, 4, 4, 4] and batched_scheduler.batches[4] == 1
    alone_scheduler = InferenceScheduler(nice=0, max_batch=1)
    alone_robots = robots(model, processor, alone_scheduler)
    for k, (a, r) in enumerate(zip(together, alone_robots)):
        question, options = QUESTIONS[k % len(QUESTIONS)]
        b = r.route("the bed") if k % 2 else r.ask(question, options=options)
        assert a.success and b.success and b.batch_size == 1
        assert (a.answer, a.choice, a.frame_stamps) == (b.answer, b.choice, b.frame_stamps), (k, a, b)
        assert a.frame_stamps != together[(k + 1) % 4].frame_stamps  # each robot's own window
        if kv_cache:  # the batch left each robot its own visual prefix: a follow-up reuses it, alone
            c = batched_robots[k].route("the bed") if k % 2 else batched_robots[k].ask(question, options=options)
            assert c.cached_prefix and c.batch_size == 1 and c.answer == a.answer
    batched_scheduler.close()
    alone_scheduler.close()


def test_a_cached_prefix_runs_alone_and_a_closed_robot_leaves_the_others_batched():
    model, processor = load_model(None, preset="tiny")
    scheduler = InferenceScheduler(nice=0, max_batch=3)
    rs = robots(model, processor, scheduler, n=3)
    first = [r.ask(*QUESTIONS[k]) for k, r in enumerate(rs)]  # one at a time: each keeps its visual prefix
    assert all(a.success and a.batch_size == 1 for a in first)
    again = ask_together(rs, scheduler)  # same frames again: each follow-up reuses its own prefix, alone
    assert [a.cached_prefix for a in again] == [True] * 3 and [a.batch_size for a in again] == [1, 1, 1]
    assert [a.answer for a in again] == [a.answer for a in first]
    rs[1].close()  # closing one robot cancels its query; the other two answer
    rs2 = [rs[0], rs[2]]
    for r in rs2:
        r._prefix = None
    out = ask_together(rs2, scheduler)
    assert all(a.success and a.batch_size == 2 for a in out)
    scheduler.close()


def test_a_canceled_sequence_answers_at_once_and_the_batch_goes_on():
    model, processor = load_model(None, preset="tiny")
    scheduler = InferenceScheduler(nice=0, max_batch=3)
    rs = robots(model, processor, scheduler, n=3, min_new_tokens=300, max_new_tokens=300)
    gate, started = threading.Event(), threading.Event()
    blocker = scheduler.lane("blocker", 0)
    blocker.submit(lambda: (started.set(), gate.wait(30)))
    assert started.wait(10)
    cancel, finished, answers = threading.Event(), [], {}

    def cancel_at_first_token(stage, frames, partial):
        if partial:
            cancel.set()

    def ask(k):
        extra = dict(cancel=cancel, progress=cancel_at_first_token) if k == 1 else {}
        answers[k] = rs[k].ask("How many chairs are in the room?", **extra)
        finished.append(k)

    threads = [threading.Thread(target=ask, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    while sum(lane.waiting() for lane in scheduler.lanes) < 3:
        time.sleep(0.01)
    gate.set()
    for t in threads:
        t.join(60)
    assert answers[1].error_code == "CANCELED" and answers[1].batch_size == 3
    assert answers[0].success and answers[2].success and len(answers[0].answer) > 0
    assert finished[0] == 1  # answered when its sequence stopped, not when the batch's 300 tokens were done
    scheduler.close()
