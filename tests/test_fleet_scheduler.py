"""The shared inference scheduler: round-robin between robots' lanes, BUSY per lane, cancel on close; and the
process model pool (one load per key, freed by the last user)."""
import threading
import time
from concurrent.futures import CancelledError

import pytest

from spacemind_ros.errors import BusyError, CanceledError
from spacemind_ros.fleet import InferenceScheduler, ModelKey, ModelPool


@pytest.fixture
def scheduler():
    s = InferenceScheduler(nice=0)
    yield s
    s.close()


def _blocker(scheduler):
    """A lane whose one running job holds the thread until released, so others queue up behind it."""
    gate, started = threading.Event(), threading.Event()
    lane = scheduler.lane("blocker", queue_limit=0)
    future = lane.submit(lambda: (started.set(), gate.wait(10)))
    assert started.wait(10)
    return gate, future


def test_lanes_take_turns_whatever_their_queue_lengths(scheduler):
    gate, _ = _blocker(scheduler)
    order = []
    loud, quiet = scheduler.lane("loud", queue_limit=20), scheduler.lane("quiet", queue_limit=20)
    futures = [loud.submit(order.append, f"loud{i}") for i in range(10)]
    futures += [quiet.submit(order.append, f"quiet{i}") for i in range(2)]
    gate.set()
    for f in futures:
        f.result(timeout=10)
    # the quiet robot's two queries come second and fourth, not after the loud robot's ten
    assert order[:4] == ["loud0", "quiet0", "loud1", "quiet1"]
    assert order[4:] == [f"loud{i}" for i in range(2, 10)]


def test_busy_is_per_lane(scheduler):
    gate, _ = _blocker(scheduler)
    a, b = scheduler.lane("a", queue_limit=1), scheduler.lane("b", queue_limit=1)
    fa = [a.submit(time.sleep, 0), a.submit(time.sleep, 0)]
    with pytest.raises(BusyError):
        a.submit(time.sleep, 0)
    fb = b.submit(time.sleep, 0)  # b is not affected by a's full lane
    assert a.busy == 1 and b.busy == 0
    gate.set()
    for f in fa + [fb]:
        f.result(timeout=10)
    assert a.in_flight == 0 and a.served == 2
    a.submit(time.sleep, 0).result(timeout=10)  # room again


def test_closing_a_lane_cancels_only_its_waiting_queries(scheduler):
    gate, _ = _blocker(scheduler)
    a, b = scheduler.lane("a", queue_limit=3), scheduler.lane("b", queue_limit=3)
    fa, fb = a.submit(time.sleep, 0), b.submit(lambda: "b")
    a.close()
    with pytest.raises(CancelledError):
        fa.result(timeout=1)
    with pytest.raises(CanceledError):
        a.submit(time.sleep, 0)
    gate.set()
    assert fb.result(timeout=10) == "b"
    assert [lane.name for lane in scheduler.lanes] == ["blocker", "b"]


def test_an_exception_reaches_the_caller_and_the_thread_goes_on(scheduler):
    lane = scheduler.lane("a", queue_limit=2)
    with pytest.raises(ZeroDivisionError):
        lane.submit(lambda: 1 / 0).result(timeout=10)
    assert lane.submit(lambda: 42).result(timeout=10) == 42


def test_close_cancels_every_waiting_query():
    s = InferenceScheduler(nice=0)
    gate, running = _blocker(s)
    waiting = s.lane("a", queue_limit=2).submit(time.sleep, 0)
    closer = threading.Thread(target=s.close, kwargs={"timeout": 10})
    closer.start()
    with pytest.raises(CancelledError):
        waiting.result(timeout=5)
    gate.set()
    running.result(timeout=10)  # the running one finished on its own
    closer.join(10)
    assert not closer.is_alive()
    with pytest.raises(RuntimeError):
        s.lane("late", queue_limit=1)


def test_pool_loads_once_per_key_and_frees_with_the_last_user():
    pool, loads = ModelPool(), []
    key = ModelKey("", "tiny", "cpu", "float32", "torch", "")

    def load():
        loads.append(1)
        time.sleep(0.05)  # a second robot configuring meanwhile must wait, not load again
        return "model", "processor", "encoders"

    entries = []
    threads = [threading.Thread(target=lambda u=u: entries.append(pool.acquire(key, u, load, nice=0)))
               for u in ("/robot1", "/robot2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1 and entries[0] is entries[1] and entries[0].users == {"/robot1", "/robot2"}
    other = pool.acquire(ModelKey("", "small", "cpu", "float32", "torch", ""), "/robot3", load, nice=0)
    assert len(loads) == 2 and len(pool) == 2
    assert not pool.release(entries[0], "/robot1")
    assert pool.release(entries[0], "/robot2") and len(pool) == 1
    assert pool.release(other, "/robot3") and len(pool) == 0


def test_a_failed_load_leaves_nothing_behind():
    pool = ModelPool()
    key = ModelKey("/missing", "small", "cpu", "float32", "torch", "")
    with pytest.raises(FileNotFoundError):
        pool.acquire(key, "/robot1", lambda: (_ for _ in ()).throw(FileNotFoundError("/missing")), nice=0)
    assert len(pool) == 0
    assert pool.acquire(key, "/robot1", lambda: (1, 2, 3), nice=0).model == 1


def test_a_batch_takes_one_waiting_query_per_lane_with_the_same_key():
    s = InferenceScheduler(nice=0, max_batch=3)
    gate, _ = _blocker(s)
    ran = []

    def runner(jobs):
        ran.append(sorted(args[0] for _, _, args in jobs))
        for future, fn, args in jobs:
            future.set_result(fn(*args))

    lanes = [s.lane(f"r{k}", queue_limit=3) for k in range(4)]
    futures = [lanes[0].submit(str, "a0", batch=("m", runner)), lanes[0].submit(str, "a1", batch=("m", runner)),
               lanes[1].submit(str, "b0", batch=("other", runner)), lanes[2].submit(str, "c0", batch=("m", runner)),
               lanes[3].submit(str, "d0", batch=("m", runner))]
    gate.set()
    assert [f.result(timeout=10) for f in futures] == ["a0", "a1", "b0", "c0", "d0"]
    # a0 with the heads of the next lanes that share its key (b0 does not), at most 3; then the rest in turn
    assert ran[0] == ["a0", "c0", "d0"] and s.batches[3] == 1
    assert s.batches[1] == 3  # the blocker, b0 and a1 alone
    s.close()


def test_a_lane_passed_over_for_another_key_goes_next():
    s = InferenceScheduler(nice=0, max_batch=4)
    gate, _ = _blocker(s)
    order = []

    def runner(jobs):
        for future, fn, args in jobs:
            future.set_result(fn(*args))

    a, b, c = (s.lane(name, queue_limit=30) for name in "abc")
    futures = []
    for i in range(10):
        futures += [a.submit(order.append, f"a{i}", batch=("k1", runner)),
                    c.submit(order.append, f"c{i}", batch=("k1", runner))]
    futures.append(b.submit(order.append, "b0", batch=("k2", runner)))
    gate.set()
    for f in futures:
        f.result(timeout=10)
    assert order.index("b0") <= 2, order  # right after the first batch (a0, c0), not after all twenty
    s.close()


def test_no_busy_for_a_caller_that_asks_again_at_once_and_canceled_waits_do_not_count(scheduler):
    lane = scheduler.lane("a", queue_limit=0)
    for _ in range(300):  # the old count lowered after the waiter woke: a caller could find its own lane full
        lane.submit(lambda: None).result(timeout=10)
    assert lane.busy == 0
    gate, _ = _blocker(scheduler)
    other = scheduler.lane("b", queue_limit=5)
    waiting = [other.submit(time.sleep, 0) for _ in range(3)]
    assert waiting[0].cancel() and other.waiting() == 2 and other.in_flight == 2
    gate.set()
    for f in waiting[1:]:
        f.result(timeout=10)
