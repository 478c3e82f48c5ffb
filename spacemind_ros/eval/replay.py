"""Replay bags into an answering backend and ask each question at its stamp: the loop offline and live share.

Per (bag, topic): frames are read one at a time and handed to the backend in bag order; a question with
``stamp_ns`` is asked once every frame up to that stamp has been handed over (``until`` = its stamp), the others at
the end of the bag (``until`` = the newest stamp). Each bag's stamps are shifted onto one increasing timeline,
more than the window's duration after the previous bag's, so a bag's frames evict all of the previous bag's and the
window never mixes scenes (the model never sees stamps; records carry the bag's own stamps).

The run's stream perturbations (blind, image noise, blur, dropped frames) are applied here, to each frame before it
is handed over: offline before the window, live before it is published, as a player replaying a bag would.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

from spacemind_ros.errors import ErrorCode
from spacemind_ros.eval.bags import BagError, bag_frames
from spacemind_ros.eval.perturbations import StreamPerturbation
from spacemind_ros.eval.predictions import make_record
from spacemind_ros.eval.questions import Problem, Question, group_by_bag

log = logging.getLogger(__name__)
S = 1_000_000_000


class Backend(Protocol):
    mode: str

    def feed(self, stamp_ns: int, image) -> None: ...

    def ask(self, q: Question, until_ns: int) -> dict: ...


@dataclass
class RunStats:
    asked: int = 0
    answered: int = 0  # success
    failed: int = 0  # the model or node answered with an error
    resumed: int = 0  # already in predictions.jsonl
    bad_frames: int = 0
    dropped_frames: int = 0  # lost on purpose by the drop perturbation
    problems: list[Problem] = field(default_factory=list)


class Timeline:
    """Shifts each bag's stamps so bags follow each other with ``gap_ns`` between them, starting at ``start_ns``."""

    def __init__(self, gap_ns: int, start_ns: int = S):
        self.gap_ns, self.cursor, self.offset, self.newest = int(gap_ns), int(start_ns), None, None

    def begin_bag(self) -> None:
        self.offset = None

    def shift(self, stamp: int) -> int:
        if self.offset is None:
            self.offset = self.cursor - stamp
        shifted = stamp + self.offset
        self.newest = shifted if self.newest is None else max(self.newest, shifted)
        return shifted

    def end_bag(self) -> None:
        if self.newest is not None:
            self.cursor = self.newest + self.gap_ns

    def unshift(self, stamp: int) -> int:
        return stamp - (self.offset or 0)


def run_questions(questions: list[Question], backend: Backend, settings, writer, done: set[str],
                  progress=None, limit: int | None = None) -> RunStats:
    """Answer every question not in ``done``; records go to ``writer``; bad bags become problems, the run goes on.

    ``limit``: stop after this many new records (tests interrupt a run with it).
    """
    stats = RunStats()
    timeline = Timeline(int(settings.window_duration_s * S) + S, getattr(backend, "timeline_start_ns", S))
    window = settings.window_config()
    # Bags follow each other with a gap longer than the window, so the window sees each new bag as a time jump:
    # it drops the bag's first frames until jump_confirm_frames in a row confirm it. Those frames are fed again
    # once the jump is accepted (they then fall inside the window), so every frame of every bag reaches it.
    jumps = timeline.gap_ns > window.max_stamp_jump_s * S
    stream = StreamPerturbation(settings.parsed_perturbations(), settings.perturb_seed)
    for (bag, topic), group in group_by_bag(questions):
        todo = [q for q in group if q.id not in done]
        stats.resumed += len(group) - len(todo)
        if progress is not None:
            progress.update(len(group) - len(todo))
        if not todo:
            continue
        if limit is not None and stats.asked >= limit:
            break
        pending = list(todo)
        bad: list[str] = []
        timeline.begin_bag()
        fed, newest, early = 0, None, []
        first = None  # the bag's first stamp: a question asked before it has no frame of this bag

        def ask(q: Question) -> None:
            until = q.stamp_ns if q.stamp_ns is not None else newest
            if fed == 0 or until is None or until < first:
                # Nothing of this bag has reached the window: answer as the pipeline would, without asking.
                answer = dict(success=False, error_code=ErrorCode.NOT_ENOUGH_FRAMES.value,
                              error_message=f"no frame of {bag} on {topic} at or before the asked stamp")
            else:
                answer = backend.ask(q, timeline.shift(until))
                answer["frame_stamps"] = [timeline.unshift(s) for s in answer.get("frame_stamps", [])]
            extra = answer.pop("extra", {})
            writer.write(make_record(q, answer, backend.mode, settings, until, frames_fed=fed, **extra))
            stats.asked += 1
            if answer.get("success"):
                stats.answered += 1
            else:
                stats.failed += 1
            if progress is not None:
                progress.update(1)

        try:
            for stamp, image in bag_frames(bag, topic, bad):
                # Questions wait until the window has taken the bag's time jump (else a live node's window would
                # still hold the previous bag's frames); they are asked at their own stamp all the same.
                while pending and pending[0].stamp_ns is not None and stamp > pending[0].stamp_ns \
                        and (not jumps or fed >= window.jump_confirm_frames):
                    ask(pending.pop(0))
                    if limit is not None and stats.asked >= limit:
                        return _finish(stats, bad, timeline)
                if stream:
                    image = stream.frame(stamp, image)
                    if image is None:
                        stats.dropped_frames += 1
                        continue
                backend.feed(timeline.shift(stamp), image)
                fed += 1
                newest = stamp if newest is None else max(newest, stamp)
                first = stamp if first is None else min(first, stamp)
                if jumps and fed <= window.jump_confirm_frames:  # also the first bag: a live node may hold frames
                    early.append((stamp, image))
                    if fed == window.jump_confirm_frames:
                        for early_stamp, early_image in early[:-1]:
                            backend.feed(timeline.shift(early_stamp), early_image)
            while pending:
                ask(pending.pop(0))
                if limit is not None and stats.asked >= limit:
                    return _finish(stats, bad, timeline)
        except BagError as exc:
            for q in pending:
                stats.problems.append(q.problem(str(exc)))
                if progress is not None:
                    progress.update(1)
        _finish(stats, bad, timeline)
    return stats


def _finish(stats: RunStats, bad: list[str], timeline: Timeline) -> RunStats:
    timeline.end_bag()
    stats.bad_frames += len(bad)
    for why in bad[:5]:
        log.warning("frame skipped: %s", why)
    bad.clear()
    return stats
