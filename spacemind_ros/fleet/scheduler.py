"""One inference thread for every robot of a model: a lane per robot, served round-robin.

Each robot (a SpatialReasoner) submits its queries to its own :class:`Lane`. A lane holds at most
``1 + queue_limit`` queries (running or waiting); one more is BUSY for that robot only. The thread takes the next
waiting query from the lane after the one it served last, so a robot that floods the node waits behind its own
queries, never in front of another robot's.
"""
from __future__ import annotations

import collections
import logging
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future

import torch

from spacemind_ros.errors import BusyError, CanceledError

log = logging.getLogger(__name__)


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
        self.pending: collections.deque[tuple[Future, Callable, tuple, tuple | None]] = collections.deque()
        self.in_flight = 0  # submitted and not done (waiting or running)
        self.served = 0  # queries this lane's callers got an outcome for (any outcome)
        self.busy = 0  # submissions refused as BUSY
        self.closed = False

    def submit(self, fn: Callable, *args, batch: tuple[object, Callable] | None = None) -> Future:
        """Queue ``fn(*args)`` for the inference thread; BusyError when this lane is full, CanceledError once it is
        closed (the robot's node is shutting down).

        ``batch=(key, runner)``: this query may run together with other lanes' waiting queries of the same ``key``:
        the thread then calls ``runner([(future, fn, args), ...])``, which must settle every future.
        """
        future: Future = Future()
        with self.scheduler._cond:
            if self.closed or self.scheduler._closed:
                raise CanceledError("canceled: the node is shutting down")
            if self.in_flight >= 1 + self.queue_limit:
                self.busy += 1
                raise BusyError(f"{1 + self.queue_limit} queries are already running or queued; retry later")
            self.in_flight += 1
            self.pending.append((future, fn, args, batch))
            self.scheduler._cond.notify()
        future.add_done_callback(self._done)
        return future

    def _done(self, _future) -> None:
        with self.scheduler._cond:
            self.in_flight -= 1
            self.served += 1

    def waiting(self) -> int:
        with self.scheduler._cond:
            return len(self.pending)

    def close(self) -> None:
        """Cancel the waiting queries (their futures raise CancelledError) and refuse new ones; a running query
        finishes on its own (its caller stops it)."""
        with self.scheduler._cond:
            self.closed = True
            pending, self.pending = list(self.pending), collections.deque()
            self.scheduler._lanes = [lane for lane in self.scheduler._lanes if lane is not self]
        for future, *_ in pending:
            future.cancel()


class InferenceScheduler:
    """A single inference thread (niceness ``nice``, ``torch_threads`` intra-op threads) serving lanes in turn;
    up to ``max_batch`` lanes' waiting queries of one batch key run as one batch."""

    def __init__(self, nice: int = 10, torch_threads: int | None = None, name: str = "spacemind-inference",
                 max_batch: int = 1):
        self.max_batch = max_batch
        self.batches = collections.Counter()  # batch size -> how many ran (1 = alone)
        self._cond = threading.Condition()
        self._lanes: list[Lane] = []
        self._next = 0  # index of the lane to look at first
        self._closed = False
        self._thread = threading.Thread(target=self._loop, args=(nice, torch_threads or torch.get_num_threads()),
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

    def _take(self) -> list:
        """The next lane's oldest query after the last lane served, and the heads of the lanes after it that share
        its batch key, up to ``max_batch`` (caller holds the lock). Empty when nothing waits."""
        taken = []
        n, start = len(self._lanes), self._next
        for k in range(n):
            i = (start + k) % n
            lane = self._lanes[i]
            if not lane.pending:
                continue
            head = lane.pending[0]
            if taken and (head[3] is None or head[3][0] != taken[0][3][0]):
                continue
            taken.append(lane.pending.popleft())
            self._next = i + 1
            if taken[0][3] is None or len(taken) >= self.max_batch:
                break
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
            taken = [item for item in taken if item[0].set_running_or_notify_cancel()]  # drop the canceled
            if not taken:
                continue
            if torch.get_num_threads() != torch_threads:  # another thread's set_num_threads (a feature worker's)
                torch.set_num_threads(torch_threads)
            self.batches[len(taken)] += 1
            if len(taken) == 1:
                future, fn, args, _ = taken[0]
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:  # noqa: BLE001 - handed to the caller waiting on the future
                    future.set_exception(exc)
                continue
            runner = taken[0][3][1]
            try:
                runner([(future, fn, args) for future, fn, args, _ in taken])
            except BaseException as exc:  # noqa: BLE001 - every query of the batch gets the error
                for future, *_ in taken:
                    if not future.done():
                        future.set_exception(exc)
            for future, *_ in taken:
                if not future.done():
                    future.set_exception(RuntimeError("the batch runner left this query unanswered"))

    def close(self, timeout: float = 1.0) -> None:
        """Cancel every waiting query and stop the thread once the running one returns (waits up to ``timeout``)."""
        with self._cond:
            self._closed = True
            lanes = list(self._lanes)
            self._cond.notify_all()
        for lane in lanes:
            lane.close()
        self._thread.join(timeout=timeout)
