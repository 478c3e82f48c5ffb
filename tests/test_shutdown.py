"""Closing the reasoner (node cleanup or shutdown) answers the running and the queued queries CANCELED, promptly."""
import threading
import time

from spacemind_ros.model.presets import build_tiny
from spacemind_ros.pipeline import ReasonerConfig, SpatialReasoner, WindowConfig
from spacemind_ros.scenes import walkthrough_frames

S = 1_000_000_000


def test_close_cancels_running_and_queued_queries():
    model, processor = build_tiny(seed=0)
    r = SpatialReasoner(model, processor, WindowConfig(min_gap_s=0.0),
                        ReasonerConfig(queue_limit=2, min_new_tokens=3000, max_new_tokens=3000))
    for stamp, img in walkthrough_frames(num_frames=8, height=60, width=80):
        r.add_frame(stamp + S, img)
    generating, out = threading.Event(), {}

    def ask(name):
        out[name] = r.ask("How far is the box?", timeout=120.0,
                          progress=lambda stage, *_: stage == "generating" and generating.set())

    threads = [threading.Thread(target=ask, args=(f"q{i}",)) for i in range(3)]
    for t in threads:
        t.start()
        time.sleep(0.05)
    assert generating.wait(60)
    t0 = time.monotonic()
    r.close()
    for t in threads:
        t.join(timeout=10)
    assert time.monotonic() - t0 < 3.0
    assert {k: a.error_code for k, a in out.items()} == {"q0": "CANCELED", "q1": "CANCELED", "q2": "CANCELED"}, \
        {k: a.error_message for k, a in out.items()}
    late = r.ask("How many boxes?")  # a query after close
    assert late.error_code == "CANCELED" and "shutting down" in late.error_message
