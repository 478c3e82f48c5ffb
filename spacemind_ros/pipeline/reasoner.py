"""SpatialReasoner: answers questions over the frame window with SpaceMind. ROS-free; the node wraps it.

Per query: sample the window -> InternViT tokens (cached per keyframe by a background worker) -> VGGT over the
sampled frames -> CGMF -> prefill the visual prefix (its KV cache is kept for follow-up questions on the same
frames) -> greedy decode of the question -> parse into a structured Answer. Errors come back as Answer fields.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import torch

from spacemind_ros.errors import (
    BadRequestError,
    CanceledError,
    ErrorCode,
    QueryTimeoutError,
    SpaceMindError,
)
from spacemind_ros.fleet.scheduler import InferenceScheduler, run_at_nice, settle
from spacemind_ros.pipeline.answer import Answer, RouteAnswer
from spacemind_ros.pipeline.answer_parsing import parse_choice, parse_number, parse_route
from spacemind_ros.pipeline.frame_window import Frame, FrameWindow, WindowConfig
from spacemind_ros.pipeline.request_limits import check_query_text, check_route_text, check_timeout
from spacemind_ros.pipeline.prompting import (
    NUMERICAL_TASKS,
    ROUTE_ADVICE_TASK,
    build_question_text,
    resolve_task,
    route_question,
    validate_options,
    validate_question,
)

log = logging.getLogger(__name__)
Progress = Callable[[str, int, str], None]  # (stage, frames, partial answer)


@dataclass
class ReasonerConfig:
    queue_limit: int = 2  # queries that may wait behind the running one; more answer BUSY
    default_timeout_s: float = 60.0
    max_new_tokens: int = 16  # VSI-Bench decodes at most 16 tokens
    route_max_new_tokens: int = 96
    min_new_tokens: int = 0  # > 0 forces a decode length (benchmarks, soak, tests of slow queries)
    future_tolerance_s: float = 1.0  # 'until' later than clock() + this is a bad request
    feature_cache: bool = True  # a background worker computes per-keyframe work (InternViT tokens, VGGT input)
    feature_worker_threads: int = 1  # the worker's torch intra-op threads: few, so it never crowds out a query
    vggt_input_cache: bool = True  # the worker also resizes each keyframe for VGGT (uint8, 0.6 MB at 640x480)
    compute_nice: int = 10  # inference and feature threads run this much nicer (Linux): intake and DDS win the CPU
    kv_cache: bool = True  # reuse the visual prefix's KV cache for follow-up questions
    merge_lora: bool = True  # fold LoRA into the LLM weights while serving (same answers, fewer matmuls)
    # The LLM elsewhere (spacemind_ros.engine.vllm_llm.VllmLLM): ``generate(embeds [1, L, d], max_new_tokens,
    # min_new_tokens, timeout) -> text``. None = the model's own LLM in this process.
    llm: object | None = None
    # Evaluation only: changes what a query sampled (``frames(frames)``) and VGGT's tokens (``spatial(spatial,
    # vggt, stamps)``), e.g. spacemind_ros.eval.perturbations.QueryPerturbation. None in service.
    perturbation: object | None = None


class _Deadline:
    """Asked after every generated token: stops at the deadline or on cancel; reports the partial answer."""

    def __init__(self, reasoner: "SpatialReasoner", deadline: float, cancel: threading.Event | None,
                 progress: Progress | None, frames: int):
        self.reasoner, self.deadline, self.cancel, self.progress, self.frames = reasoner, deadline, cancel, progress, frames
        self.reason: str | None = None

    def __call__(self, new_ids: torch.Tensor) -> bool:
        if (self.cancel is not None and self.cancel.is_set()) or self.reasoner.closing.is_set():
            self.reason = "cancel"
        elif time.monotonic() > self.deadline:
            self.reason = "timeout"
        elif self.progress is not None:
            try:
                self.progress("generating", self.frames, self.reasoner.processor.decode(new_ids[0]))
            except Exception:  # noqa: BLE001 - feedback that cannot go out never costs the answer
                log.warning("progress feedback failed; the query goes on", exc_info=True)
                self.progress = None
        return self.reason is not None


class SpatialReasoner:
    def __init__(self, model, processor, window_config: WindowConfig | None = None,
                 config: ReasonerConfig | None = None, clock: Callable[[], int] | None = None, encoders=None,
                 scheduler: InferenceScheduler | None = None, name: str = "default"):
        """``clock`` returns 'now' in ns for checking ``until`` (None: no future check, e.g. offline bags).

        ``encoders`` runs InternViT, VGGT and CGMF (``visual_tokens``, ``spatial_tokens``, ``fuse``): an engine
        backend (spacemind_ros.engine); None = the model's own torch modules. The LLM always runs in ``model``.
        ``scheduler``: the inference thread shared with other robots' reasoners on the same model (a fleet
        process); this reasoner queues on its own lane ``name``. None = a scheduler of its own.
        """
        self.model = model.eval()
        self.encoders = encoders if encoders is not None else model
        self.processor = processor
        self.config = config or ReasonerConfig()
        if self.config.merge_lora:
            model.merge_lora()
        self.clock = clock
        self.window = FrameWindow(window_config, on_keyframe=self._schedule_features)
        self._prefix: tuple | None = None  # (frame stamps, prefix embeds [1, L, d], KV cache)
        self.closing = threading.Event()  # set by close(): a running query stops as if canceled
        self._features: queue.Queue[Frame | None] = queue.Queue(maxsize=self.window.config.max_frames)
        # Queries run on the scheduler's thread at a lower OS priority, so the callers' threads (a ROS executor's,
        # which also take images) stay responsive while the model computes.
        self._own_scheduler = scheduler is None
        self.scheduler = scheduler or InferenceScheduler(nice=self.config.compute_nice)
        self.lane = self.scheduler.lane(name, self.config.queue_limit)
        self._worker = None
        if self.config.feature_cache:
            self._worker = threading.Thread(target=self._feature_worker, name="internvit-features", daemon=True)
            self._worker.start()

    # -- ingest ----------------------------------------------------------------------------------------------------
    def add_frame(self, stamp_ns: int, image, camera_info=None, copy: bool = True) -> bool:
        """Hand one RGB frame ``[H, W, 3]`` to the window (cheap). Bad frames raise BadRequestError.

        ``copy=False``: the window keeps ``image`` itself; only for buffers nobody writes to afterwards.
        """
        return self.window.offer(stamp_ns, image, camera_info, copy=copy)

    def _schedule_features(self, frame: Frame) -> None:
        if self._worker is not None:
            try:
                self._features.put_nowait(frame)
            except queue.Full:
                pass  # computed at query time instead

    def _feature_worker(self) -> None:
        # One torch thread: a second full-width OpenMP team beside the query's doubled its decode time on 2 cores.
        run_at_nice(self.config.compute_nice, self.config.feature_worker_threads)
        while True:
            frame = self._features.get()
            try:
                if frame is None:
                    return
                if frame.features is None:
                    pixels = self.processor.internvl_pixels(frame.image)[None]
                    frame.features = self.encoders.visual_tokens(pixels)[0]
                if self.config.vggt_input_cache and frame.vggt_input is None:
                    frame.vggt_input = self.processor.vggt_frame(frame.image)
            except Exception:  # noqa: BLE001 - a failed frame is recomputed at query time
                log.exception("feature worker failed on frame %d", frame.stamp_ns)
            finally:
                self._features.task_done()  # lets wait_features() see the queue drained

    def wait_features(self, timeout: float = 30.0) -> bool:
        """Block until the feature worker has caught up (benchmarks, tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._features.unfinished_tasks == 0:
                return True
            time.sleep(0.005)
        return False

    def stop(self) -> None:
        """Shutdown's first step, at once: the running query stops at its next check and the waiting ones answer
        CANCELED (a fleet stops every robot before it waits for any feature worker)."""
        self.closing.set()
        self.lane.close()

    def close(self) -> None:
        """Stop: a running query and those waiting answer CANCELED at once; the feature worker's backlog is
        dropped (it would otherwise finish every queued frame first). Returns within about a second."""
        self.stop()
        if self._worker is not None:
            while True:
                try:
                    self._features.get_nowait()
                    self._features.task_done()
                except queue.Empty:
                    break
            try:
                self._features.put(None, timeout=1.0)
            except queue.Full:
                pass
            self._worker.join(timeout=1.0)  # a daemon thread: at most one frame's features left to finish
            self._worker = None
        if self._own_scheduler:
            self.scheduler.close(timeout=0.0)
        if hasattr(self.config.llm, "close"):
            self.config.llm.close()
        self._prefix = None

    # -- queries ---------------------------------------------------------------------------------------------------
    def ask(self, question: str, options: Sequence[str] = (), task: str | None = None, until: int | None = None,
            timeout: float | None = None, cancel: threading.Event | None = None,
            progress: Progress | None = None) -> Answer:
        """Answer one question; ``until`` in ns (None = latest frame); never raises for a bad request."""
        answer = Answer()

        def prepare():
            check_query_text(question, options, task)
            q = validate_question(question)
            opts = validate_options(options)
            answer.task = resolve_task(task, q, opts)
            return build_question_text(q, opts, answer.task), opts

        return self._run(answer, prepare, until, timeout, cancel, progress, self.config.max_new_tokens)

    def route(self, goal: str, start: str | None = None, until: int | None = None, timeout: float | None = None,
              cancel: threading.Event | None = None, progress: Progress | None = None) -> RouteAnswer:
        """Route advice to ``goal``: steps with actions and landmarks."""
        answer = RouteAnswer(task=ROUTE_ADVICE_TASK)

        def prepare():
            check_route_text(goal, start)
            return build_question_text(route_question(goal, start), (), ROUTE_ADVICE_TASK), []

        return self._run(answer, prepare, until, timeout, cancel, progress, self.config.route_max_new_tokens)

    def _run(self, answer, prepare, until, timeout, cancel, progress, max_new_tokens):
        t0 = time.monotonic()
        try:
            timeout = check_timeout(timeout) or self.config.default_timeout_s
            deadline = t0 + timeout
            text, options = prepare()
            self._check_until(until)
            self._check_open()
            future = self.lane.submit(self._answer, answer, text, options, until, deadline, timeout, cancel,
                                      progress, max_new_tokens,  # BusyError when this robot's lane is full
                                      batch=(id(self.model), run_batch))
            try:
                try:
                    future.result(timeout=max(0.0, deadline - time.monotonic()))
                except FutureTimeout:
                    if future.cancel():  # still waiting behind other queries
                        raise QueryTimeoutError(f"timed out after {timeout:.2f} s waiting behind other queries") \
                            from None
                    future.result()  # running: it stops itself at the deadline
            except CancelledError as exc:
                raise CanceledError("canceled: the node is shutting down") from exc
            answer.success = True
        except SpaceMindError as exc:
            answer.error_code, answer.error_message = exc.code.value, str(exc)
        except Exception as exc:  # noqa: BLE001 - the caller (a ROS service) must get an answer, never a crash
            log.exception("query failed")
            answer.error_code, answer.error_message = ErrorCode.INTERNAL.value, f"{type(exc).__name__}: {exc}"
        answer.latency_s = time.monotonic() - t0
        return answer

    def _check_open(self):
        if self.closing.is_set():
            raise CanceledError("canceled: the node is shutting down")

    def _check_until(self, until):
        if until is None or self.clock is None:
            return
        # Against the clock or the newest frame, whichever is later: replayed stamps may lead the wall clock, and
        # the clock reads 0 under use_sim_time before the first /clock message.
        ref = max(self.clock(), self.window.latest_stamp() or 0)
        if not ref:
            return
        if until > ref + int(self.config.future_tolerance_s * 1e9):
            raise BadRequestError(f"'until' is {(until - ref) / 1e9:.2f} s in the future (after the clock and the "
                                  "newest frame); use 0 for the latest frame")

    def _checker(self, cancel, deadline: float, timeout: float):
        """``check(stage)``: raises CanceledError or QueryTimeoutError between stages."""
        def check(stage):
            if (cancel is not None and cancel.is_set()) or self.closing.is_set():
                raise CanceledError(f"canceled during {stage}")
            if time.monotonic() > deadline:
                raise QueryTimeoutError(f"timed out after {timeout:.2f} s (during {stage})")
        return check

    def _begin(self, answer, text, until, max_new_tokens, check, progress):
        """A query's first stage: the sampled frames and the prompt ids, its length checked."""
        self._check_open()  # close() came while this query waited its turn
        frames = self.window.sample(until)
        if self.config.perturbation is not None:
            frames = self.config.perturbation.frames(frames)
        answer.frame_stamps = [f.stamp_ns for f in frames]
        check("sampling")
        if progress:
            progress("encoding", len(frames), "")
        prompt = self.processor.encode(len(frames), text)
        self._check_length(prompt, len(frames), max_new_tokens)
        return frames, prompt

    def _cached_prefix(self, answer, prompt):
        """The kept visual prefix (embeds, KV cache) when this query samples the same frames, else None."""
        prefix = self._prefix
        if self.config.kv_cache and prefix is not None and prefix[0] == tuple(answer.frame_stamps) \
                and prefix[1].shape[1] == prompt.prefix.shape[1] == prefix[2].get_seq_length():
            return prefix[1], prefix[2]
        return None

    def _answer(self, answer, text, options, until, deadline, timeout, cancel, progress, max_new_tokens,
                begun=None):
        """One query on the inference thread. ``begun``: ``(frames, prompt, inputs or None)`` when a batch runner
        already did the first stage (and perhaps ``_frame_inputs``) for it."""
        check = self._checker(cancel, deadline, timeout)
        times = answer.stage_times_s
        frames, prompt, inputs = begun or (*self._begin(answer, text, until, max_new_tokens, check, progress), None)
        key = tuple(answer.frame_stamps)
        if self.config.llm is not None:
            return self._answer_remote(answer, frames, prompt, options, deadline, times, check, progress,
                                       max_new_tokens, inputs)
        cached = self._cached_prefix(answer, prompt)
        if cached is not None:
            prefix_embeds, prefix_cache = cached
            answer.cached_prefix = True
        else:
            self._prefix = None  # one visual prefix at a time bounds memory
            prefix_embeds = self._encode_prefix(frames, prompt.prefix, times, check, progress, inputs)
            prefix_cache = None
            if self.config.kv_cache:
                t = time.perf_counter()
                prefix_cache = self.model.prefill(prefix_embeds)
                times["prefill"] = time.perf_counter() - t
                self._prefix = (key, prefix_embeds, prefix_cache)
            check("prefill")
        with torch.no_grad():
            question = self.model.embed(prompt.question, None)
        stopper = _Deadline(self, deadline, cancel, progress, len(frames))
        t = time.perf_counter()
        if prefix_cache is None:
            full = torch.cat([prefix_embeds, question], dim=1)
            new = self.model.greedy_decode(full, None, max_new_tokens, self.config.min_new_tokens, stopper)
        else:
            try:
                new = self.model.greedy_decode(question, prefix_cache, max_new_tokens, self.config.min_new_tokens,
                                               stopper)
            except BaseException:
                # Failed mid-decode (e.g. out of memory): the cache may hold a partial step; never reuse it.
                self._prefix = None
                raise
            finally:
                # Decoding appended to the prefix cache; cut it back (views, no copy) for the next follow-up.
                extra = prefix_cache.get_seq_length() - prefix_embeds.shape[1]
                if extra > 0:
                    prefix_cache.crop(-extra)
        times["decode"] = time.perf_counter() - t
        self._finish(answer, options, new[0], stopper, timeout)

    def _finish(self, answer, options, new_ids, stopper, timeout) -> None:
        if stopper.reason == "cancel":
            raise CanceledError("canceled while generating")
        if stopper.reason == "timeout":
            raise QueryTimeoutError(f"timed out after {timeout:.2f} s (while generating)")
        answer.answer = self.processor.decode(new_ids)
        self._parse(answer, options)

    def _answer_remote(self, answer, frames, prompt, options, deadline, times, check, progress, max_new_tokens,
                       inputs=None):
        """The LLM on a server: the whole prompt's embeddings go out, the text comes back (no prefix cache).

        The request runs on the LLM client's own threads where it has them (``submit``): the inference thread
        goes on to the next robot's encoders while the server decodes, and a fleet has requests in flight
        together. Returns that Future (the scheduler settles the query with it), or None when done inline."""
        prefix_embeds = self._encode_prefix(frames, prompt.prefix, times, check, progress, inputs)
        with torch.no_grad():
            full = torch.cat([prefix_embeds, self.model.embed(prompt.question, None)], dim=1)
        llm = self.config.llm

        def generate():
            t = time.perf_counter()
            text = llm.generate(full, max_new_tokens, self.config.min_new_tokens,
                                timeout=max(0.1, deadline - time.monotonic()))
            times["decode"] = time.perf_counter() - t
            check("generating")
            answer.answer = text.replace("\x00", "").strip()  # as processor.decode cleans the local LLM's text
            self._parse(answer, options)

        submit = getattr(llm, "submit", None)
        return submit(generate) if submit is not None else generate()

    def _check_length(self, prompt, num_frames: int, max_new_tokens: int) -> None:
        limit = getattr(self.model, "max_positions", None)
        prefix, question = prompt.prefix.shape[1], prompt.question.shape[1]
        if limit is not None and prefix + question + max_new_tokens > limit:
            raise BadRequestError(
                f"the prompt needs {prefix + question + max_new_tokens} positions ({prefix} for {num_frames} frames "
                f"and the chat header, {question} for the question, up to {max_new_tokens} for the answer) but the "
                f"language model allows {limit}; ask with fewer frames or a shorter question")

    def _frame_inputs(self, frames):
        """Per-frame encoder inputs: cached InternViT tokens (None where missing), the missing frames' pixels
        ``[M, 3, V, V]`` (or None) and VGGT's pixels ``[N, 3, H, W]``."""
        processor = self.processor
        cached = [f.features for f in frames]  # snapshots: eviction may clear them meanwhile
        missing = [i for i, c in enumerate(cached) if c is None]
        pixels = torch.stack([processor.internvl_pixels(frames[i].image) for i in missing]) if missing else None
        vggt_inputs = [f.vggt_input for f in frames]
        for i, frame in enumerate(frames):
            if vggt_inputs[i] is None:
                vggt_inputs[i] = processor.vggt_frame(frame.image)
                if self.config.feature_cache and self.config.vggt_input_cache:
                    frame.vggt_input = vggt_inputs[i]
        return cached, missing, pixels, processor.vggt_batch(vggt_inputs)

    def _fill_visual(self, frames, cached, missing, tokens) -> torch.Tensor:
        """``[N, M_v, d_v]``: the cached tokens with the newly computed ``tokens`` of the missing frames."""
        for i, t in zip(missing, tokens):
            cached[i] = t
            if self.config.feature_cache:
                frames[i].features = t
        return torch.stack(cached)

    def _encode_prefix(self, frames, prefix_ids, times, check, progress, inputs=None):
        """Fused prompt-prefix embeddings ``[1, L, d_v]``; ``inputs``: ``_frame_inputs(frames)`` if already made."""
        model = self.encoders
        t = time.perf_counter()
        cached, missing, pixels, vggt_pixels = inputs or self._frame_inputs(frames)
        times["preprocess"] = time.perf_counter() - t
        check("preprocessing")
        t = time.perf_counter()
        visual = self._fill_visual(frames, cached, missing, model.visual_tokens(pixels) if missing else [])
        times["internvit"] = time.perf_counter() - t
        check("InternViT")
        if progress:
            progress("fusing", len(frames), "")
        t = time.perf_counter()
        spatial = model.spatial_tokens(vggt_pixels[None])
        if self.config.perturbation is not None:
            spatial = self.config.perturbation.spatial(spatial, self.model.vggt, [f.stamp_ns for f in frames])
        times["vggt"] = time.perf_counter() - t
        check("VGGT")
        t = time.perf_counter()
        with torch.no_grad():
            fused = model.fuse(visual, spatial)
            prefix_embeds = self.model.embed(prefix_ids, fused)
        times["cgmf"] = time.perf_counter() - t
        check("CGMF")
        if progress:
            progress("generating", len(frames), "")
        return prefix_embeds

    @staticmethod
    def _parse(answer, options):
        if isinstance(answer, RouteAnswer):
            answer.steps, answer.actions, answer.landmarks = parse_route(answer.answer)
        elif options:
            answer.choice = parse_choice(answer.answer, options)
        elif answer.task in NUMERICAL_TASKS:
            answer.value, answer.unit = parse_number(answer.answer, NUMERICAL_TASKS[answer.task])


@dataclass
class _Batched:
    """One query of a batch: where its answer goes, and what it has got so far."""

    future: Future
    reasoner: "SpatialReasoner"
    args: tuple  # SpatialReasoner._answer's arguments
    frames: list
    prompt: object
    inputs: tuple | None  # SpatialReasoner._frame_inputs, once made
    check: Callable[[str], None]

    @property
    def answer(self):
        return self.args[0]

    def alone(self) -> None:
        settle(self.future,
               lambda: self.reasoner._answer(*self.args, begun=(self.frames, self.prompt, self.inputs)))


def run_batch(jobs) -> None:
    """Queries of several robots on one model as one batch (the scheduler's runner): InternViT over every missing
    frame at once, VGGT over ``[B, N, 3, H, W]``, CGMF over ``B*N`` frames, one prefill of the visual prefixes, then
    one padded greedy decode of the questions with per-sequence stopping; each query is answered as soon as its own
    sequence stops. Each answer equals the one it gets alone (tested in float32 on the CPU), and each robot keeps its
    visual prefix's KV cache for follow-ups. A query that cannot share the batch (a cached visual prefix, a remote
    LLM, a perturbation, another frame count or VGGT size) runs alone here.
    ``jobs``: ``[(future, reasoner._answer, args)]``; every future is settled."""
    groups: dict[tuple, list[_Batched]] = {}
    for future, fn, args in jobs:
        r = fn.__self__
        answer, text, options, until, deadline, timeout, cancel, progress, max_new_tokens = args
        try:
            check = r._checker(cancel, deadline, timeout)
            frames, prompt = r._begin(answer, text, until, max_new_tokens, check, progress)
            q = _Batched(future, r, args, frames, prompt, None, check)
            if r.config.llm is not None or r.config.perturbation is not None \
                    or r._cached_prefix(answer, prompt) is not None:
                q.alone()
                continue
            q.inputs = r._frame_inputs(frames)
        except BaseException as exc:  # noqa: BLE001 - this query's error; the others go on
            future.set_exception(exc)
            continue
        key = (id(r.encoders), r.config.min_new_tokens, r.config.kv_cache, len(frames), tuple(q.inputs[3].shape))
        groups.setdefault(key, []).append(q)
    for group in groups.values():
        if len(group) == 1:
            group[0].alone()
            continue
        try:
            _decode_group(group)
        except BaseException as exc:  # noqa: BLE001 - e.g. out of memory: every query of the group fails alike
            for q in group:
                if not q.future.done():
                    q.future.set_exception(exc)


def _decode_group(group: list[_Batched]) -> None:
    """One batch of queries with equal frame counts and VGGT sizes on one model (see run_batch)."""
    r0 = group[0].reasoner
    encoders, model = r0.encoders, r0.model
    t = time.perf_counter()
    missing_pixels = [q.inputs[2] for q in group if q.inputs[2] is not None]
    tokens = encoders.visual_tokens(torch.cat(missing_pixels)) if missing_pixels else None
    visual, at = [], 0
    for q in group:
        cached, missing = q.inputs[:2]
        # a copy per robot: a view would keep every robot's tokens of this batch alive in one robot's cache
        mine = tokens[at:at + len(missing)].clone() if missing else []
        visual.append(q.reasoner._fill_visual(q.frames, cached, missing, mine))
        at += len(missing)
    internvit = time.perf_counter() - t
    t = time.perf_counter()
    spatial = encoders.spatial_tokens(torch.stack([q.inputs[3] for q in group]))
    vggt = time.perf_counter() - t
    t = time.perf_counter()
    with torch.no_grad():
        fused = encoders.fuse(torch.cat(visual), spatial)  # [B*N, M_v, d_v]
    n = len(group[0].frames)
    live, prefixes, questions, stoppers = [], [], [], []
    for k, q in enumerate(group):
        _, _, _, _, deadline, _, cancel, progress, _ = q.args
        try:
            q.check("CGMF")
            with torch.no_grad():
                prefixes.append(model.embed(q.prompt.prefix, fused[k * n:(k + 1) * n]))
                questions.append(model.embed(q.prompt.question, None))
        except BaseException as exc:  # noqa: BLE001 - canceled or late: out of the batch
            q.future.set_exception(exc)
            continue
        live.append(q)
        stoppers.append(_Deadline(q.reasoner, deadline, cancel, progress, n))
    cgmf = time.perf_counter() - t
    if not live:
        return
    for q, stopper in zip(live, stoppers):
        if stopper.progress:
            stopper.progress("generating", n, "")
    # The prefixes have one length (the frame count sets it): one prefill for all, and each robot keeps its own
    # slice of the cache for follow-up questions, as after a query of its own.
    t = time.perf_counter()
    cache = model.prefill(torch.cat(prefixes)) if r0.config.kv_cache else None
    for j, q in enumerate(live):
        q.reasoner._prefix = (tuple(q.answer.frame_stamps), prefixes[j], model.split_cache(cache, j)) \
            if cache is not None else None
    prefill = time.perf_counter() - t
    if cache is None:  # no prefix cache kept: the whole prompts go through the decode
        questions = [torch.cat([p, q], dim=1) for p, q in zip(prefixes, questions)]
    t = time.perf_counter()

    def finished(j: int, ids: torch.Tensor) -> None:
        """Sequence j stopped: its query is answered now, not when the longest sequence of the batch ends."""
        q = live[j]
        q.answer.stage_times_s.update(internvit=internvit, vggt=vggt, cgmf=cgmf, prefill=prefill,
                                      decode=time.perf_counter() - t)  # the batch's stages, this sequence's decode
        q.answer.batch_size = len(live)
        options, timeout = q.args[2], q.args[5]
        settle(q.future, lambda: q.reasoner._finish(q.answer, options, ids[0], stoppers[j], timeout))

    model.greedy_decode_batch(questions, [q.args[8] for q in live], r0.config.min_new_tokens, stoppers,
                              cache=cache, on_finished=finished)
