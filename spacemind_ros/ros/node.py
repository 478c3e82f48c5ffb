"""spacemind_node: a lifecycle node around the ROS-free SpatialReasoner.

Transitions: configure loads the model (failure leaves the node unconfigured, with the reason logged);
activate subscribes to images; deactivate unsubscribes; cleanup frees the model. The services and the action exist
from start-up so that a request in any state gets an answer (NOT_READY until active).
"""
from __future__ import annotations

import collections
import os
import signal
import sys
import threading
import time

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos import qos_profile_sensor_data
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from spacemind_interfaces.action import SpatialQuery as SpatialQueryAction
from spacemind_interfaces.msg import SpatialAnswer
from spacemind_interfaces.srv import RouteAdvice, SpatialQuery
from std_msgs.msg import Header

from spacemind_ros.errors import ErrorCode
from spacemind_ros.images import compressed_msg_to_rgb8, image_msg_to_rgb8
from spacemind_ros.pipeline import Answer, RouteAnswer
from spacemind_ros.pipeline.answer_json import model_status
from spacemind_ros.pipeline.intake_counters import DropCounter, drop_summary, resolve_stamp
from spacemind_ros.process_tuning import tune_for_streaming
from spacemind_ros.frameworks import quiet_frameworks
from spacemind_ros.ros import diagnostics, launch_description, log_bridge, names
from spacemind_ros.ros.conversions import fill_response, time_to_ns
from spacemind_ros.ros.geometry_publisher import GeometryPublisher
from spacemind_ros.ros.parameters import declare_all, read_settings
from spacemind_ros.ros.qos import SERVICE_QOS


class _GoalCancel:
    """Looks like a threading.Event to the reasoner; set when the action client cancels."""

    def __init__(self, goal_handle):
        self.goal_handle = goal_handle

    def is_set(self) -> bool:
        return self.goal_handle.is_cancel_requested


INTAKE_WINDOW = 200  # /diagnostics intake_p95_ms is over this many latest frames


def _view_rgb8(msg: Image):
    """RGB view of the message's buffer where the encoding allows (rgb8), else a fresh conversion."""
    return image_msg_to_rgb8(msg, copy=False)


def model_key(s, runtime):
    """The pool key of these settings: robots with equal keys share one model (``s``: the node's Settings)."""
    from spacemind_ros.engine import normalize
    from spacemind_ros.fleet.model_pool import ModelKey

    return ModelKey(model_path=os.path.abspath(s.model_path) if s.model_path else "",
                    preset="" if s.model_path else s.preset, device=str(runtime.device), dtype=str(runtime.dtype),
                    backend=normalize(s.backend), engine_dir=s.engine_dir, llm_backend=s.llm_backend)


class SpaceMindNode(LifecycleNode):
    """One robot's node. In a fleet process (``--robots``) several of these, one per namespace, share one loaded
    model and one inference scheduler through the process's model pool; each keeps its own window and queue."""

    def __init__(self, log_to_ros: bool = True, **kwargs):
        super().__init__(names.NODE, **kwargs)
        declare_all(self)
        self.settings = read_settings(self)
        self.reasoner = None
        self.shared = None  # the pool entry (model, processor, encoders, scheduler) this node configured with
        self.backend_name = ""  # the backend configure opened (auto resolves to one)
        self._active = False
        self._subs = []
        self._last_camera_info = None
        self._stats_lock = threading.Lock()
        self.received = 0
        self.dropped = 0
        self.errors = 0
        self.last_error = ""
        self.last_drop = ""
        self.configure_error = ""  # why the last configure failed, kept until one succeeds (last_error moves on)
        self._dropped_reported = 0
        self._last_frame_at = time.monotonic()  # last frame received (or activation), for stale-input warnings
        self.node_drops = DropCounter()  # drops before the window (decode, zero_stamp); the window counts its own
        self._inflight = 0  # query callbacks running (shutdown waits for their CANCELED answers to go out)
        self._configured = False
        # package logging -> /rosout at ROS levels; in a fleet process only the first node bridges it (once)
        self._log_handler = log_bridge.install(self.get_logger()) if log_to_ros else None
        self.add_on_set_parameters_callback(self._check_parameters)
        self.last_latency_s = float("nan")
        self._recent = collections.deque()  # receive times (monotonic s) of the last 5 s, for the input rate
        self._intake_ms = collections.deque(maxlen=INTAKE_WINDOW)  # intake callback durations of the last frames
        self.ingest_group = MutuallyExclusiveCallbackGroup()  # images: never behind a query
        self.query_group = ReentrantCallbackGroup()  # queries may arrive together; the reasoner queues or says BUSY
        self.status_group = MutuallyExclusiveCallbackGroup()
        self.answers_pub = self.create_publisher(SpatialAnswer, names.ANSWERS_TOPIC, 10)
        self.diag_pub = self.create_publisher(DiagnosticArray, names.DIAGNOSTICS_TOPIC, 10)
        self.create_service(SpatialQuery, names.QUERY_SERVICE, self._on_query, callback_group=self.query_group,
                            qos_profile=SERVICE_QOS)
        self.create_service(RouteAdvice, names.ROUTE_SERVICE, self._on_route, callback_group=self.query_group,
                            qos_profile=SERVICE_QOS)
        self._action = ActionServer(
            self, SpatialQueryAction, names.QUERY_ACTION, execute_callback=self._on_goal,
            goal_callback=lambda _: GoalResponse.ACCEPT, cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=self.query_group, goal_service_qos_profile=SERVICE_QOS,
            result_service_qos_profile=SERVICE_QOS, cancel_service_qos_profile=SERVICE_QOS,
        )
        self.geometry = GeometryPublisher(self, self.query_group)  # ~/window_poses, ~/window_cloud, ~/depth
        self.create_timer(self.settings.diagnostics_period_s, self._publish_diagnostics,
                          callback_group=self.status_group)

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def on_configure(self, state) -> TransitionCallbackReturn:
        from spacemind_ros.engine import normalize
        from spacemind_ros.eval.perturbations import query_perturbation
        from spacemind_ros.fleet.model_pool import POOL
        from spacemind_ros.pipeline import ReasonerConfig, SpatialReasoner, WindowConfig
        from spacemind_ros.runtime import RuntimeSettings

        s = self.settings = read_settings(self)
        user = self.get_fully_qualified_name()
        try:
            normalize(s.backend)  # an unknown name fails before the model loads
            if s.llm_backend not in ("torch", "vllm"):
                raise ValueError(f"llm_backend {s.llm_backend!r}: torch or vllm")
            llm = None
            if s.llm_backend == "vllm":  # the server answers before the model loads, or configure fails
                from spacemind_ros.engine.vllm_llm import VllmLLM

                llm = VllmLLM(s.llm_url, s.llm_model)
                self.get_logger().info(f"language model: {llm.description}")
            perturbation = query_perturbation(s.eval_perturbation, s.eval_seed)  # so does a bad perturbation
            t = time.perf_counter()
            runtime = RuntimeSettings.resolve(s.device, s.dtype)
            key = model_key(s, runtime)
            shared = POOL.acquire(key, user, lambda: self._load_model(s, runtime), nice=s.compute_nice,
                                  max_batch=s.batch_max)
            self.shared, model, processor, encoders = shared, shared.model, shared.processor, shared.encoders
            self.backend_name = encoders.name
            if len(shared.users) > 1:
                self.get_logger().info(f"sharing the model loaded for {', '.join(sorted(shared.users - {user}))}")
                if shared.scheduler.max_batch != s.batch_max:  # the model's scheduler is the first robot's
                    self.get_logger().warning(f"batch_max {s.batch_max} ignored: this model's robots share one "
                                              f"scheduler, set up with {shared.scheduler.max_batch}")
            query_frames = s.query_frames or model.config.query_frames  # 0: what the model was trained with
            window = WindowConfig(max_frames=s.window_max_frames, duration_s=s.window_duration_s,
                                  min_gap_s=s.keyframe_gap_s, min_frames=s.min_frames,
                                  max_bytes=s.window_max_bytes, max_pixels=s.image_max_pixels,
                                  max_aspect=s.image_max_aspect, sample_frames=query_frames + 2, drop_ends=1)
            config = ReasonerConfig(queue_limit=s.queue_limit, default_timeout_s=s.default_timeout_s,
                                    max_new_tokens=s.max_new_tokens, route_max_new_tokens=s.route_max_new_tokens,
                                    min_new_tokens=s.min_new_tokens, compute_nice=s.compute_nice,
                                    perturbation=perturbation, llm=llm)
            self.reasoner = SpatialReasoner(model, processor, window, config,
                                            clock=lambda: self.get_clock().now().nanoseconds, encoders=encoders,
                                            scheduler=shared.scheduler, name=user)
            self.geometry.configure(self.reasoner, s)
        except Exception as exc:  # noqa: BLE001 - any load failure leaves us unconfigured, alive
            self._release_model()
            self.last_error = self.configure_error = f"configure failed: {type(exc).__name__}: {exc}"
            self.get_logger().error(self.last_error)
            return TransitionCallbackReturn.FAILURE
        self.configure_error, self._configured = "", True
        warning = model_status(s.model_path, s.preset)[1]
        self.get_logger().info(f"configured: {s.model_path or 'preset ' + s.preset} on {runtime.describe()} "
                               f"in {time.perf_counter() - t:.1f} s, {query_frames} frames a query"
                               + (f" ({warning})" if warning else ""))
        if perturbation is not None:
            self.get_logger().warning(f"eval_perturbation '{perturbation.spec}': every answer is from perturbed "
                                      "input (evaluation only)")
        return TransitionCallbackReturn.SUCCESS

    def _load_model(self, s, runtime):
        """(model, processor, encoders) for these settings: what the pool calls when no robot holds them yet."""
        from spacemind_ros.engine import default_vggt_hw, open_backend
        from spacemind_ros.model.presets import load_model

        model, processor = load_model(s.model_path or None, preset=s.preset, runtime=runtime)
        encoders, why = open_backend(s.backend, model, engine_dir=s.engine_dir or None,
                                     vggt_hw=default_vggt_hw(model.config))
        self.get_logger().info(f"backend: {encoders.description} ({why})")
        if s.llm_backend == "vllm":
            model.drop_language_layers()  # the server runs them; the token embeddings stay here
        return model, processor, encoders

    def _release_model(self) -> None:
        from spacemind_ros.fleet.model_pool import POOL

        if self.shared is not None:
            POOL.release(self.shared, self.get_fully_qualified_name())
            self.shared = None

    def on_activate(self, state) -> TransitionCallbackReturn:
        s = self.settings
        qos = qos_profile_sensor_data
        self._subs.append(self.create_subscription(Image, s.image_topic, self._on_image, qos,
                                                   callback_group=self.ingest_group))
        if s.compressed_topic:
            self._subs.append(self.create_subscription(CompressedImage, s.compressed_topic, self._on_compressed, qos,
                                                       callback_group=self.ingest_group))
        if s.camera_info_topic:
            self._subs.append(self.create_subscription(CameraInfo, s.camera_info_topic, self._on_camera_info, qos,
                                                       callback_group=self.ingest_group))
        self.geometry.activate()
        self._active = True
        self._last_frame_at = time.monotonic()
        self.get_logger().info(f"active: images on {self.resolve_topic_name(s.image_topic)}")
        return super().on_activate(state)

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self._active = False
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs.clear()
        self.geometry.deactivate()
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        if self.reasoner is not None:
            self.reasoner.close()
        self.reasoner = None
        self._release_model()  # the last robot on a model frees it
        self._configured = False
        self.geometry.cleanup()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        self._active = False
        return self.on_cleanup(state)

    # -- ingest ----------------------------------------------------------------------------------------------------
    def _ingest(self, header, convert, msg) -> None:
        t0 = time.perf_counter()
        reasoner, error = self.reasoner, ""
        if reasoner is not None:
            stamp = resolve_stamp(time_to_ns(header.stamp), self.get_clock().now().nanoseconds)
            try:
                image = convert(msg)
            except Exception as exc:  # noqa: BLE001 - a bad frame is dropped and counted, never raised
                error, reason = f"frame dropped: {exc}", "decode"
            else:
                error, reason = ("frame dropped: stamp 0 and no clock yet", "zero_stamp") if stamp is None else ("", "")
            if reason:
                self.node_drops.add(reason)
            else:
                try:
                    # No copy: the array views this message's own buffer (rclpy makes a new one per message) or
                    # is a fresh conversion, and nothing writes to either after this callback.
                    reasoner.add_frame(stamp, image, self._last_camera_info, copy=False)
                except Exception as exc:  # noqa: BLE001 - counted by the window under its reason
                    error = f"frame dropped: {exc}"
        with self._stats_lock:
            self.received += 1
            self._last_frame_at = time.monotonic()
            self._recent.append(self._last_frame_at)
            if error:
                self.dropped += 1
                self.last_error = self.last_drop = error
            self._intake_ms.append((time.perf_counter() - t0) * 1e3)

    def _on_image(self, msg: Image) -> None:
        self._ingest(msg.header, _view_rgb8, msg)

    def _on_compressed(self, msg: CompressedImage) -> None:
        self._ingest(msg.header, compressed_msg_to_rgb8, msg)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._last_camera_info = msg

    # -- queries ---------------------------------------------------------------------------------------------------
    def _not_ready(self, answer):
        answer.error_code = ErrorCode.NOT_READY.value
        if self.configure_error:
            answer.error_message = (f"node is not active: {self.configure_error}; fix the parameters and configure "
                                    "again (or restart the node)")
        else:
            answer.error_message = "node is not active: configure and activate it (or start with autostart:=true)"
        return answer

    def _until(self, stamp):
        ns = time_to_ns(stamp)
        return ns or None

    def _run_query(self, req, cancel=None, progress=None) -> Answer:
        reasoner = self.reasoner
        if not self._active or reasoner is None:
            return self._not_ready(Answer(task=req.task))
        return reasoner.ask(req.question, options=list(req.options), task=req.task or None,
                            until=self._until(req.until), timeout=req.timeout_s, cancel=cancel,
                            progress=progress)

    def _finish(self, answer, question: str, options=()) -> None:
        self.last_latency_s = answer.latency_s
        if not answer.success:
            with self._stats_lock:
                self.errors += 1
                self.last_error = f"{answer.error_code}: {answer.error_message}"
        msg = SpatialAnswer(header=Header(stamp=self.get_clock().now().to_msg()), question=question,
                            options=list(options))
        self.answers_pub.publish(fill_response(msg, answer))
        self.geometry.after_query(answer)  # computes only if someone subscribes to the geometry topics

    def _tracked(handler):
        """Counts the query callbacks in flight, so shutdown can wait for their answers to go out."""

        def wrapper(self, *args):
            with self._stats_lock:
                self._inflight += 1
            try:
                return handler(self, *args)
            finally:
                with self._stats_lock:
                    self._inflight -= 1

        return wrapper

    def _check_parameters(self, params):
        from rcl_interfaces.msg import SetParametersResult

        for p in params:
            if p.name == "model_path" and self._configured:
                return SetParametersResult(successful=False,
                                           reason="model_path can change only while unconfigured (cleanup first)")
        return SetParametersResult(successful=True)

    def stop_queries(self, timeout: float = 2.0) -> None:
        """Shutdown, first step: refuse new queries, cancel the running and queued ones (they answer CANCELED) and
        wait up to ``timeout`` for their callbacks to return."""
        self._active = False
        if self.reasoner is not None:
            self.reasoner.close()
        deadline = time.monotonic() + timeout
        while self._inflight and time.monotonic() < deadline:
            time.sleep(0.01)

    @_tracked
    def _on_query(self, req, res):
        answer = self._run_query(req)
        self._finish(answer, req.question, req.options)
        return fill_response(res, answer)

    @_tracked
    def _on_route(self, req, res):
        reasoner = self.reasoner
        if not self._active or reasoner is None:
            answer = self._not_ready(RouteAnswer(task="route_advice"))
        else:
            answer = reasoner.route(req.goal, start=req.start or None, timeout=req.timeout_s)
        self._finish(answer, f"route to: {req.goal}")
        res.path, res.path_note = self.geometry.route_path(answer, req.goal)
        return fill_response(res, answer)

    @_tracked
    def _on_goal(self, goal_handle):
        req = goal_handle.request

        def progress(stage, frames, partial):
            goal_handle.publish_feedback(SpatialQueryAction.Feedback(stage=stage, frames=frames,
                                                                     partial_answer=partial))

        answer = self._run_query(req, cancel=_GoalCancel(goal_handle), progress=progress)
        self._finish(answer, req.question, req.options)
        result = fill_response(SpatialQueryAction.Result(), answer)
        if answer.error_code == ErrorCode.CANCELED.value and goal_handle.is_cancel_requested:
            goal_handle.canceled()
        elif answer.success:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        return result

    # -- status ----------------------------------------------------------------------------------------------------
    def _scheduler_values(self, reasoner) -> dict:
        """This robot's lane on the shared inference thread, and who else is on it."""
        if reasoner is None or self.shared is None:
            return {"queries_waiting": 0, "queries_refused_busy": 0, "robots_on_model": 0, "batches_run": ""}
        lane = reasoner.lane
        batches = self.shared.scheduler.batches
        return {"queries_waiting": lane.waiting(), "queries_refused_busy": lane.busy,
                "robots_on_model": len(self.shared.users),
                "batches_run": " ".join(f"{size}:{count}" for size, count in sorted(batches.items()))}

    def _publish_diagnostics(self) -> None:
        now = time.monotonic()
        with self._stats_lock:
            while self._recent and now - self._recent[0] >= 5.0:
                self._recent.popleft()
            rate = len(self._recent) / 5.0
            received, dropped, errors, last_error = self.received, self.dropped, self.errors, self.last_error
            dropped_since_last, self._dropped_reported = dropped - self._dropped_reported, dropped
            frame_age = now - self._last_frame_at
            intake = sorted(self._intake_ms)
        p95 = intake[int(0.95 * (len(intake) - 1))] if intake else float("nan")
        reasoner, s = self.reasoner, self.settings
        intake_values = {
            "active": self._active, "input_rate_hz": f"{rate:.1f}", "frames_received": received,
            "frames_dropped": dropped, "last_drop": self.last_drop, "last_frame_age_s": f"{frame_age:.1f}",
            "window_fill": len(reasoner.window) if reasoner else 0, "window_capacity": s.window_max_frames,
            "window_bytes": reasoner.window.nbytes if reasoner else 0, "window_max_bytes": s.window_max_bytes,
            "time_jumps": reasoner.window.stats.time_jumps if reasoner else 0,
            "frames_downscaled": reasoner.window.stats.downscaled if reasoner else 0,
            "intake_p95_ms": f"{p95:.3f}", "image_topic": self.resolve_topic_name(s.image_topic),
        }
        # Every drop reason counted (node: decode, zero_stamp; window: duplicate, too_old, future, aspect, ...)
        intake_values.update(drop_summary(self.node_drops.as_dict(), reasoner.window.drops() if reasoner else None))
        trained, model_warning = model_status(s.model_path, s.preset)
        model_values = {
            "active": self._active, "configured": reasoner is not None, "backend": self.backend_name or s.backend,
            "model": s.model_path or f"preset:{s.preset}", "trained": trained, "model_warning": model_warning,
            "last_latency_s": f"{self.last_latency_s:.3f}", "errors": errors, "last_error": last_error,
            "configure_error": self.configure_error, "eval_perturbation": s.eval_perturbation,
            **self._scheduler_values(reasoner),
            **self.geometry.diagnostics(),
        }
        name = self.get_fully_qualified_name().lstrip("/")
        statuses = [
            diagnostics.status(name, "intake", *diagnostics.intake_level(self._active, dropped_since_last, frame_age),
                               s.device, intake_values),
            diagnostics.status(name, "model", *diagnostics.model_level(self._active, reasoner is not None,
                                                                       self.configure_error, not trained),
                               s.device, model_values),
        ]
        self.diag_pub.publish(DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()), status=statuses))


def _spin(executor, stop: threading.Event, logger) -> None:
    """``executor.spin`` that survives rclpy's race when a callback destroys an entity (deactivate drops the image
    subscriptions) while the spinning thread builds its wait set: InvalidHandle, then spin on."""
    while not stop.is_set():
        try:
            executor.spin()
            return
        except ExternalShutdownException:
            return
        except Exception as exc:  # noqa: BLE001 - the node must keep answering
            if stop.is_set() or not executor.context.ok():
                return
            logger.warning(f"executor: {type(exc).__name__}: {exc}; spinning on")


def build_parser():
    """The node's own arguments (before ``--ros-args``); everything else is rclpy's."""
    import argparse

    ap = argparse.ArgumentParser(prog="spacemind_node", description="SpaceMind lifecycle node (one robot, or with "
                                 "--robots one node per namespace sharing one model); ROS arguments follow --ros-args")
    def robots(text):
        try:
            return launch_description.robot_namespaces(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    ap.add_argument("--robots", type=robots, metavar="NS[,NS...]",
                    help="serve these namespaces from one process and one loaded model, e.g. robot1,robot2")
    return ap


def _split_robots(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """``(argv without our arguments, robot namespaces or None)``: ours come before ``--ros-args``."""
    ros_at = argv.index("--ros-args") if "--ros-args" in argv else len(argv)
    ours, rest = build_parser().parse_known_args(argv[1:ros_at])
    return argv[:1] + rest + argv[ros_at:], ours.robots


def main(args=None) -> int:
    """One node, or with ``--robots robot1,robot2`` one node per namespace sharing one model (a fleet process)."""
    args, robots = _split_robots(list(sys.argv if args is None else args))  # a bad --robots exits 2 with why
    quiet_frameworks()  # library warnings and loading bars to the debug log, not the console
    tune_for_streaming()  # short GIL hand-over: image callbacks do not wait behind the query thread
    # Our own SIGINT/SIGTERM handling: rclpy's would shut the context down at once, and the queries in flight could
    # no longer answer. Instead: cancel them (CANCELED goes out), then stop the executor and the context.
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    # Fleet: namespaces given to the constructors (a global __ns remap would put every node in one namespace);
    # the params file's /** and /robotN/spacemind_node sections apply per node as usual.
    nodes = [SpaceMindNode()] if robots is None else \
        [SpaceMindNode(namespace=ns, log_to_ros=i == 0) for i, ns in enumerate(robots)]
    # An executor (6 threads) per robot: a robot whose requests hold every callback thread of its own executor
    # cannot keep another robot's requests from being taken; the shared scheduler then serves them in turn.
    executors = [MultiThreadedExecutor(num_threads=6) for _ in nodes]
    for node, executor in zip(nodes, executors):
        executor.add_node(node)
    spinners = [threading.Thread(target=_spin, args=(executor, stop, node.get_logger()), daemon=True,
                                 name=f"executor{node.get_namespace().replace('/', '-')}")
                for node, executor in zip(nodes, executors)]
    try:
        for spinner in spinners:
            spinner.start()
        for node in nodes:  # the first loads the model; the others find it in the pool
            if node.settings.autostart:
                if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                    node.get_logger().error("autostart: configure failed; staying unconfigured")
                else:
                    node.trigger_activate()
        while not stop.wait(0.2) and all(spinner.is_alive() for spinner in spinners):
            pass
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        for node in nodes:  # every robot refuses new queries and cancels its own, before any waits for a worker
            node._active = False
            if node.reasoner is not None:
                node.reasoner.stop()
        for node in nodes:
            node.stop_queries(timeout=0.0)
        deadline = time.monotonic() + 2.0  # then their CANCELED answers go out
        while any(node._inflight for node in nodes) and time.monotonic() < deadline:
            time.sleep(0.01)
        for executor in executors:
            executor.shutdown(timeout_sec=1.0)
        for node in nodes:
            node.geometry.close()
            if node._log_handler is not None:
                log_bridge.remove(node._log_handler)
            node.destroy_node()
        rclpy.try_shutdown()
        # Finalise the context now: that destroys the DDS participant, which tells the others it left (skipped,
        # they would keep its services for the lease duration, and a new node of the same name would share them).
        rclpy.get_default_context().destroy()
    # Everything that must close is closed (answers sent, DDS left). The interpreter's own teardown (torch's above
    # all) took 3-8 s on 2 cores, longer than a launcher waits before SIGKILL: skip it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
