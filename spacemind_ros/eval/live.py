"""Live answering: frames published over ROS into a running spacemind_node, questions through its query service.

The real path, with the node's own windowing: the tool starts a node with the evaluation's settings (or uses an
existing one, whose window parameters it reads and adopts), publishes each bag's frames at a chosen rate, waits
until /diagnostics shows the node has received every frame, then asks with ``until`` at the question's stamp. A
local shadow of the node's window (stamps only) predicts which frames the node will sample; each record says
whether the node's frames matched (``frames_match``). rclpy is imported here only, and only when this runs.
"""
from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import numpy as np

from spacemind_ros.errors import ErrorCode, SpaceMindError
from spacemind_ros.eval.questions import Question
from spacemind_ros.pipeline.frame_window import FrameWindow, WindowConfig

log = logging.getLogger(__name__)
S = 1_000_000_000
WINDOW_PARAMS = ("window_max_frames", "window_duration_s", "keyframe_gap_s", "min_frames", "query_frames",
                 "max_new_tokens", "min_new_tokens", "image_topic", "model_path", "preset", "backend", "device",
                 "diagnostics_period_s", "eval_perturbation", "eval_seed")


class LiveBackend:
    mode = "live"

    def __init__(self, settings, node_name: str = "spacemind_node", existing: bool = False, rate: float = 30.0,
                 service: str = "spatial_query", image_topic: str | None = None, network: bool = False,
                 domain_id: int | None = None, log_dir: Path | None = None, wait_s: float = 60.0):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from spacemind_interfaces.srv import SpatialQuery

        from spacemind_ros.ros.environment import apply_loopback_environment, loopback_environment

        self.settings, self.rate, self.node_name = settings, float(rate), node_name
        # The node's image subscription keeps 5 messages (sensor-data QoS): bursts of 5, each confirmed.
        self.burst, self.retries = 5, 5
        self.confirm_timeout_s = 1.0
        self.proc = self._log = self.node = None
        self.resent = self.unconfirmed = 0
        self._rclpy = rclpy
        if not existing:
            env = None
            if not network:
                domain = apply_loopback_environment(domain_id)
                env = loopback_environment(domain)
                log.info("loopback-only DDS, ROS_DOMAIN_ID=%d", domain)
            self._start_node(env, log_dir)
        try:
            rclpy.init()
            self.node = rclpy.create_node("spacemind_eval")
            self.query_client = self.node.create_client(SpatialQuery, service)
            self._Request = SpatialQuery.Request
            self.frames_received: int | None = None
            self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
            self._wait_ready(wait_s)
            self._set_up(settings, existing, image_topic, wait_s)
        except BaseException:
            self.close()
            raise

    def _set_up(self, settings, existing, image_topic, wait_s):
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image

        self.node_params = self._read_node_parameters()
        self._adopt(self.node_params, existing)
        topic = image_topic or self.node_params.get("image_topic") or "image"
        self.publisher = self.node.create_publisher(Image, topic, qos_profile_sensor_data)
        self._wait_for(lambda: self.publisher.get_subscription_count() > 0, wait_s,
                       f"no subscriber on {self.publisher.topic_name} (is the node active on that topic?)")
        self._wait_for(lambda: self.frames_received is not None, 30.0, "no /diagnostics from the node")
        self.timeline_start_ns = self._first_free_stamp()
        self.published = self.resent = self.unconfirmed = 0
        self._acked = self.frames_received  # frames the node has confirmed so far (its frames_received count)
        self._pending: list = []  # published, not yet confirmed (at most ``burst``: bounded memory)
        self._next_publish = time.monotonic()
        self.shadow = FrameWindow(self.window_config)
        self._dummy = np.zeros((1, 1, 3), np.uint8)

    # -- set-up ----------------------------------------------------------------------------------------------------
    def _start_node(self, env, log_dir):
        import subprocess

        from spacemind_ros.ros.runner import DEFAULT_PARAMS, node_command

        cmd = node_command(DEFAULT_PARAMS, self.settings.node_parameters())
        out = subprocess.DEVNULL
        if log_dir is not None:
            Path(log_dir).mkdir(parents=True, exist_ok=True)
            self._log = out = open(Path(log_dir) / "node.log", "a", encoding="utf-8")
        self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)

    def _wait_for(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} after {timeout:.0f} s")
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"the spacemind_node we started exited with code {self.proc.returncode}")
            self._rclpy.spin_once(self.node, timeout_sec=0.05)

    def _on_diagnostics(self, msg) -> None:
        # Status names: "spacemind_node", or diagnostic_updater style "spacemind_node: intake".
        ours = self.node_name.rsplit("/", 1)[-1]
        for status in msg.status:
            if status.name.split(":")[0].strip().rsplit("/", 1)[-1] == ours or len(msg.status) == 1:
                values = {kv.key: kv.value for kv in status.values}
                if "frames_received" in values:
                    self.frames_received = int(values["frames_received"])

    def _call(self, request, timeout: float):
        from spacemind_ros.ros.client import call

        return call(self.query_client, request, self.node, timeout)

    def _wait_ready(self, timeout: float) -> None:
        from builtin_interfaces.msg import Time

        self._wait_for(lambda: self.query_client.wait_for_service(timeout_sec=0.2), timeout,
                       f"service {self.query_client.srv_name} is not available")
        # until = 1 ns lies before any frame, so an active node answers BAD_REQUEST or NOT_ENOUGH_FRAMES at once.
        probe = self._Request(question="ready?", until=Time(sec=0, nanosec=1))
        deadline = time.monotonic() + timeout
        while self._call(probe, 30.0).error_code == ErrorCode.NOT_READY.value:
            if time.monotonic() > deadline:
                raise RuntimeError(f"spacemind_node is not active after {timeout:.0f} s")
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"the spacemind_node we started exited with code {self.proc.returncode}")
            time.sleep(0.2)

    def _first_free_stamp(self) -> int:
        """A stamp after which our frames share no window with frames the node already holds (an existing node,
        e.g. one an earlier run fed). The probe's BAD_REQUEST names the window's oldest frame; the newest is at
        most window_duration_s later, so starting one more duration after that evicts them all."""
        from builtin_interfaces.msg import Time

        res = self._call(self._Request(question="probe", until=Time(sec=0, nanosec=1)), 30.0)
        m = re.search(r"before the oldest frame in the window \((\d+) ns\)", res.error_message)
        if res.error_code != ErrorCode.BAD_REQUEST.value or not m:
            return S  # empty window
        duration = int(self.settings.window_duration_s * S)
        start = int(m.group(1)) + 2 * duration + 2 * S
        if start > time.time_ns():
            log.warning("%s holds frames stamped near the current time: restart it for a clean window (records "
                        "say frames_match=false where its frames joined ours)", self.node_name)
        return start

    def _read_node_parameters(self) -> dict:
        from rclpy.parameter import parameter_value_to_python
        from rclpy.parameter_client import AsyncParameterClient

        client = AsyncParameterClient(self.node, self.node_name)
        if not client.wait_for_services(timeout_sec=10.0):
            log.warning("cannot read %s's parameters; assuming the evaluation's settings", self.node_name)
            return {}
        future = client.get_parameters(list(WINDOW_PARAMS))
        self._rclpy.spin_until_future_complete(self.node, future, timeout_sec=10.0)
        if not future.done() or future.result() is None:
            return {}
        values = [parameter_value_to_python(v) for v in future.result().values]
        return {k: v for k, v in zip(WINDOW_PARAMS, values) if v is not None}

    def _adopt(self, params: dict, existing: bool) -> None:
        """The node's window decides what it samples: take its values, and warn where they differ from ours."""
        s = self.settings
        for name, ours in (("window_max_frames", s.window_max_frames), ("window_duration_s", s.window_duration_s),
                           ("keyframe_gap_s", s.keyframe_gap_s), ("min_frames", s.min_frames),
                           ("query_frames", s.frames)):
            theirs = params.get(name)
            if theirs is None:
                if name == "query_frames":
                    log.warning("%s has no query_frames parameter: it samples its built-in count, maybe not %d",
                                self.node_name, s.frames)
                continue
            if theirs != ours:
                log.warning("%s has %s=%s (the evaluation asked for %s): using the node's value", self.node_name,
                            name, theirs, ours)
        s.window_max_frames = int(params.get("window_max_frames", s.window_max_frames))
        s.window_duration_s = float(params.get("window_duration_s", s.window_duration_s))
        s.keyframe_gap_s = float(params.get("keyframe_gap_s", s.keyframe_gap_s))
        s.min_frames = int(params.get("min_frames", s.min_frames))
        s.frames = int(params.get("query_frames", s.frames))
        if existing:
            s.model_path, s.preset = params.get("model_path", s.model_path), params.get("preset", s.preset)
            s.backend, s.device = params.get("backend", s.backend), params.get("device", s.device)
        ours = s.node_parameters().get("eval_perturbation", "")
        theirs = params.get("eval_perturbation", "") if params else ours
        if theirs != ours or (ours and params.get("eval_seed", s.perturb_seed) != s.perturb_seed):
            # The node applies these to what it samples; a run that claims them must get them.
            raise RuntimeError(f"{self.node_name} runs with eval_perturbation '{theirs}' (eval_seed "
                               f"{params.get('eval_seed')}) but this run asks for '{ours}' (seed {s.perturb_seed}); "
                               f"start the node with -p eval_perturbation:={ours or chr(39) * 2} -p "
                               f"eval_seed:={s.perturb_seed}, or let spacemind-eval start it")
        if params.get("max_new_tokens", 16) != 16 or params.get("min_new_tokens", 0) != 0:
            log.warning("%s decodes with max_new_tokens=%s, min_new_tokens=%s; VSI-Bench uses at most 16, no minimum",
                        self.node_name, params.get("max_new_tokens"), params.get("min_new_tokens"))
        self.window_config: WindowConfig = s.window_config()
        # A burst is confirmed by the next /diagnostics or two after it arrived.
        self.confirm_timeout_s = max(1.0, 3.0 * float(params.get("diagnostics_period_s", 1.0)))

    # -- replay ----------------------------------------------------------------------------------------------------
    def feed(self, stamp_ns: int, image) -> None:
        """Publish one frame (paced at ``rate``); every ``burst`` frames, confirm the node received them."""
        from std_msgs.msg import Header

        from spacemind_ros.images import array_to_image_msg
        from spacemind_ros.ros.conversions import ns_to_time

        msg = array_to_image_msg(np.ascontiguousarray(image), "rgb8",
                                 header=Header(stamp=ns_to_time(stamp_ns), frame_id="camera"))
        self._publish(msg)
        self._pending.append(msg)
        try:
            self.shadow.offer(stamp_ns, self._dummy, copy=False)
        except ValueError:
            pass
        if len(self._pending) >= self.burst:
            self._confirm()

    def _publish(self, msg) -> None:
        if self.rate > 0:
            delay = self._next_publish - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._next_publish = max(self._next_publish, time.monotonic() - 1.0) + 1.0 / self.rate
        self.publisher.publish(msg)
        self.published += 1

    def _confirm(self) -> None:
        """Wait until /diagnostics counts the pending frames as received; if some were lost (best-effort images),
        send the whole burst again: a repeated frame is a duplicate to the window and changes nothing."""
        msgs, self._pending = self._pending, []
        if not msgs:
            return
        for attempt in range(1 + self.retries):
            if attempt:
                self._acked = self.frames_received or 0
                self.resent += len(msgs)
                for msg in msgs:
                    self._publish(msg)
            if self._wait_received(self._acked + len(msgs), self.confirm_timeout_s):
                self._acked = self.frames_received
                return
        self.unconfirmed += len(msgs)
        self._acked = self.frames_received or 0
        log.warning("the node did not confirm %d frames after %d tries", len(msgs), 1 + self.retries)

    def _wait_received(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while (self.frames_received or 0) < count and time.monotonic() < deadline:
            self._rclpy.spin_once(self.node, timeout_sec=0.02)
        return (self.frames_received or 0) >= count

    def ask(self, q: Question, until_ns: int) -> dict:
        from spacemind_ros.ros.client import response_dict
        from spacemind_ros.ros.conversions import ns_to_time

        unconfirmed = self.unconfirmed
        self._confirm()
        all_received = self.unconfirmed == unconfirmed
        try:
            expected = [f.stamp_ns for f in self.shadow.sample(until_ns)]
        except SpaceMindError:
            expected = []
        req = self._Request(question=q.question, options=list(q.options), task=q.question_type,
                            until=ns_to_time(until_ns), timeout_s=float(self.settings.timeout_s))
        t = time.perf_counter()
        try:
            res = self._call(req, self.settings.timeout_s + 30.0)
        except TimeoutError as exc:
            return dict(success=False, error_code=ErrorCode.TIMEOUT.value, error_message=str(exc),
                        latency_s=time.perf_counter() - t)
        round_trip = time.perf_counter() - t
        d = response_dict(res)
        d["frame_stamps"] = [int(s.sec) * S + int(s.nanosec) for s in res.frame_stamps]  # exact ns
        got = d["frame_stamps"]
        match = got == expected if res.success else None
        if match is False:
            log.warning("question %s: the node sampled %d frames that differ from the bag's (%d expected)", q.id,
                        len(got), len(expected))
        d["extra"] = {"round_trip_s": round(round_trip, 6), "window_frames": len(self.shadow),
                      "frames_match": match, "all_frames_received": all_received}
        return d

    def close(self) -> None:
        if self.resent or self.unconfirmed:
            log.warning("%d frames were sent again after losses; %d never confirmed", self.resent, self.unconfirmed)
        try:
            if self.node is not None:
                self.node.destroy_node()
                self.node = None
        finally:
            self._rclpy.try_shutdown()
            if self.proc is not None:
                from spacemind_ros.ros.runner import stop_all

                stop_all([self.proc])
            if self._log is not None:
                self._log.close()
