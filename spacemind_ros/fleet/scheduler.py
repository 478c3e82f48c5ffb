"""One inference thread for every robot of a model: a lane per robot, served round-robin.

Each robot (a SpatialReasoner) submits its queries to its own :class:`Lane`. A lane holds at most
``1 + queue_limit`` queries (running or waiting); one more is BUSY for that robot only. The thread takes the next
waiting query from the lane after the one it served last, so a robot that floods the node waits behind its own
queries, never in front of another robot's. Waiting queries of several lanes that share a batch key run as one
batch (the key's runner, e.g. spacemind_ros.pipeline.reasoner.run_batch).
"""
from __future__ import annotations

import collections
import logging
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import NamedTuple

import torch

from spacemind_ros.errors import BusyError, CanceledError

log = logging.getLogger(__name__)
# Intra-op threads of the inference thread: read once at import, in the thread that starts the process, before any
# feature worker sets its own single thread (a thread created later may inherit that 1).
DEFAULT_TORCH_THREADS = torch.get_num_threads()


class Job(NamedTuple):
    future: Future
    fn: Callable
    args: tuple
    batch: tuple | None  # (key, runner) or None: may run in a batch with other lanes' jobs of the same key


def run_at_nice(nice: int, torch_threads: int) -> None:
    """Thread initialiser: raise this thread's niceness by ``nice`` (Linux: per thread; raising needs no privilege)
    and set its torch intra-op threads (per thread: a new thread would otherwise take the last count any thread
    set, e.g. the feature worker's)."""
    torch.set_num_threads(torch_threads)
    if nice > 0 and sys.platform.startswith("linux"):
        tid = threading.get_native_id()
        try:
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
        except OSError as exc:
            log.warning("could not lower the priority of %s: %s", threading.current_thread().name, exc)


class Lane:
    """One robot's queue on a shared :class:`InferenceScheduler`."""

    def __init__(self, scheduler: "InferenceScheduler", name: str, queue_limit: int):
        self.scheduler, self.name, self.queue_limit = scheduler, name, queue_limit
        self.pending: collections.deque[Job] = collections.deque()
        self._live: set[Future] = set()  # submitted, maybe done: pruned at each submit
        self.served = 0  # queries this lane's callers got an outcome for (any outcome)
        self.busy = 0  # submissions refused as BUSY
        self.closed = False

    def submit(self, fn: Callable, *args, batch: tuple[object, Callable] | None = None) -> Future:
        """Queue ``fn(*args)`` for the inference thread; BusyError when this lane is full, CanceledError once it is
        closed (the robot's node is shutting down).

        ``batch=(key, runner)``: this query may run together with other lanes' waiting queries of the same ``key``:
        the thread then calls ``runner([(future, fn, args), ...])``, which must settle every future.
        ``fn`` may return a Future (work it handed to another thread): this query's future follows it.
        """
        future: Future = Future()
        with self.scheduler._cond:
            if self.closed or self.scheduler._closed:
                raise CanceledError("canceled: the node is shutting down")
            # Counted from the futures' own state, which is final before any waiter wakes: a caller that got its
            # answer and asks again at once never finds its lane still full.
            self._live = {f for f in self._live if not f.done()}
            if len(self._live) >= 1 + self.queue_limit:
                self.busy += 1
                raise BusyError(f"{1 + self.queue_limit} queries are already running or queued; retry later")
            self._live.add(future)
            self.pending.append(Job(future, fn, args, batch))
            self.scheduler._cond.notify()
        future.add_done_callback(self._done)
        return future

    def _done(self, _future) -> None:
        with self.scheduler._cond:
            self.served += 1

    @property
    def in_flight(self) -> int:
        """Queries submitted and not yet answered (waiting or running)."""
        with self.scheduler._cond:
            return sum(not f.done() for f in self._live)

    def waiting(self) -> int:
        with self.scheduler._cond:
            return sum(not job.future.cancelled() for job in self.pending)

    def close(self) -> None:
        """Cancel the waiting queries (their futures raise CancelledError) and refuse new ones; a running query
        finishes on its own (its caller stops it)."""
        with self.scheduler._cond:
            self.closed = True
            pending, self.pending = list(self.pending), collections.deque()
            self.scheduler._lanes = [lane for lane in self.scheduler._lanes if lane is not self]
        for job in pending:
            job.future.cancel()


class InferenceScheduler:
    """A single inference thread (niceness ``nice``, ``torch_threads`` intra-op threads) serving lanes in turn;
    up to ``max_batch`` lanes' waiting queries of one batch key run as one batch."""

    def __init__(self, nice: int = 10, torch_threads: int | None = None, name: str = "spacemind-inference",
                 max_batch: int = 1):
        """``torch_threads``: the inference thread's intra-op threads (default: the process's at start-up)."""
        self.max_batch = max_batch
        self.batches = collections.Counter()  # batch size -> how many ran (1 = alone)
        self._cond = threading.Condition()
        self._lanes: list[Lane] = []
        self._next = 0  # index of the lane to look at first
        self._closed = False
        self._thread = threading.Thread(target=self._loop, args=(nice, torch_threads or DEFAULT_TORCH_THREADS),
                                        name=name, daemon=True)
        self._thread.start()

    def lane(self, name: str, queue_limit: int) -> Lane:
        with self._cond:
            if self._closed:
                raise RuntimeError("the scheduler is closed")
            lane = Lane(self, name, queue_limit)
            self._lanes.append(lane)
            return lane

    @property
    def lanes(self) -> list[Lane]:
        with self._cond:
            return list(self._lanes)

    def _take(self) -> list[Job]:
        """The next lane's oldest query after the last lane served, and the heads of the lanes after it that share
        its batch key, up to ``max_batch`` (caller holds the lock). Empty when nothing waits. Queries canceled
        while waiting are dropped here. The next turn starts at the first lane passed over (another key), so no
        lane is skipped twice."""
        for lane in self._lanes:
            while lane.pending and lane.pending[0].future.cancelled():
                lane.pending.popleft()
        taken, skipped = [], None
        n, start = len(self._lanes), self._next
        for k in range(n):
            i = (start + k) % n
            lane = self._lanes[i]
            if not lane.pending:
                continue
            head = lane.pending[0]
            if taken and (head.batch is None or head.batch[0] != taken[0].batch[0]):
                skipped = i if skipped is None else skipped
                continue
            taken.append(lane.pending.popleft())
            self._next = i + 1
            if taken[0].batch is None or len(taken) >= self.max_batch:
                break
        if skipped is not None:
            self._next = skipped
        return taken

    def _loop(self, nice: int, torch_threads: int) -> None:
        run_at_nice(nice, torch_threads)
        while True:
            with self._cond:
                taken = self._take()
                while not taken and not self._closed:
                    self._cond.wait()
                    taken = self._take()
                if not taken:
                    return
            taken = [job for job in taken if job.future.set_running_or_notify_cancel()]  # drop the canceled
            if not taken:
                continue
            if torch.get_num_threads() != torch_threads:  # keep this thread's count whatever other threads set
                torch.set_num_threads(torch_threads)
            self.batches[len(taken)] += 1
            if len(taken) == 1:
                settle(taken[0].future, lambda job=taken[0]: job.fn(*job.args))
                continue
            try:
                taken[0].batch[1]([(job.future, job.fn, job.args) for job in taken])
            except BaseException as exc:  # noqa: BLE001 - every query of the batch gets the error
                for job in taken:
                    if not job.future.done():
                        job.future.set_exception(exc)
            for job in taken:
                if not job.future.done():
                    job.future.set_exception(RuntimeError("the batch runner left this query unanswered"))

    def close(self, timeout: float = 1.0) -> None:
        """Cancel every waiting query and stop the thread once the running one returns (waits up to ``timeout``)."""
        with self._cond:
            self._closed = True
            lanes = list(self._lanes)
            self._cond.notify_all()
        for lane in lanes:
            lane.close()
        self._thread.join(timeout=timeout)


def settle(future: Future, call: Callable) -> None:
    """Settle ``future`` with ``call()``: its result, its exception, or, when it returns a Future (work handed to
    another thread, e.g. a remote LLM's request), whatever that Future settles with."""
    try:
        result = call()
    except BaseException as exc:  # noqa: BLE001 - handed to the caller waiting on the future
        future.set_exception(exc)
        return
    if isinstance(result, Future):
        result.add_done_callback(lambda done: follow(future, done))
    else:
        future.set_result(result)


def follow(future: Future, done: Future) -> None:
    """Settle ``future`` as ``done`` was settled."""
    if done.cancelled():
        future.cancel() or future.set_exception(CanceledError("canceled"))
    elif done.exception() is not None:
        future.set_exception(done.exception())
    else:
        future.set_result(done.result())
