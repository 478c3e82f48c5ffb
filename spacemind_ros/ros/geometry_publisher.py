"""Window geometry for RViz and planners: ~/window_poses, ~/window_cloud, ~/depth (+ ~/depth/camera_info),
~/route_path, the newest camera on /tf, ~/get_window_geometry.

Computed only when a topic has a subscriber (right after each answered query, on that query's frames) or when the
service is called, so image intake and plain queries never pay for it. Odometry (nav_msgs/Odometry on the
``odometry_topic`` parameter) makes the output metric, in the odometry frame; without it the output is up to scale
in the first sampled camera's optical frame (``geometry_camera_frame``) at that frame's stamp.
"""
from __future__ import annotations

import math
import threading
import time

from geometry_msgs.msg import PoseArray, PoseStamped
from nav_msgs.msg import Odometry, Path
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from spacemind_interfaces.srv import GetWindowGeometry
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage  # built from its definition by scripts/setup.sh (no wheel exists)

from spacemind_ros.errors import ErrorCode, SpaceMindError
from spacemind_ros.geometry.odometry import OdometryBuffer
from spacemind_ros.geometry.route import frame_question, route_path
from spacemind_ros.geometry.window_geometry import GeometrySettings, WindowGeometry, geometry_of_frames
from spacemind_ros.ros.conversions import ns_to_time, time_to_ns
from spacemind_ros.ros.geometry_conversions import (
    camera_info_to_msg,
    cloud_to_msg,
    depth_to_msg,
    poses_to_msg,
    transform_to_msg,
)

# Latched: a display that subscribes after a query still gets the last window's geometry.
LATCHED = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)


class GeometryPublisher:
    def __init__(self, node, callback_group):
        self.node = node
        self.poses_pub = node.create_publisher(PoseArray, "~/window_poses", LATCHED)
        self.cloud_pub = node.create_publisher(PointCloud2, "~/window_cloud", LATCHED)
        self.depth_pub = node.create_publisher(Image, "~/depth", LATCHED)
        self.depth_info_pub = node.create_publisher(CameraInfo, "~/depth/camera_info", LATCHED)
        self.route_pub = node.create_publisher(Path, "~/route_path", LATCHED)  # the last route's waypoints
        self.tf_pub = node.create_publisher(TFMessage, "/tf", 100)  # tf2_ros's own depth for /tf
        node.create_service(GetWindowGeometry, "~/get_window_geometry", self._on_request,
                            callback_group=callback_group)
        self.callback_group = callback_group
        self.reasoner = None
        self.settings = None
        self.odometry: OdometryBuffer | None = None
        self._odom_sub = None
        self.computed = 0  # geometries computed since start-up (diagnostics; 0 while nobody asks)
        self.last_note = ""
        self._compute_lock = threading.Lock()  # one geometry at a time
        self._pending: list[int] | None = None  # frame stamps of the latest query waiting for the worker
        self._wake = threading.Condition()
        self._stop = False
        self._worker = threading.Thread(target=self._work, name="window-geometry", daemon=True)
        self._worker.start()

    # -- lifecycle (called by the node) ---------------------------------------------------------------------------
    def configure(self, reasoner, s) -> None:
        """Keep the reasoner; build VGGT's depth/point heads if ``geometry_dense_heads`` (checkpoint keys load
        strictly; the tiny preset keeps random heads)."""
        self.reasoner, self.settings = reasoner, s
        self.geometry_settings = GeometrySettings(max_points=s.geometry_max_points,
                                                  drop_fraction=s.geometry_confidence_drop)
        vggt = reasoner.model.vggt
        if s.geometry_dense_heads and not vggt.has_dense_heads:
            vggt.add_dense_heads(getattr(reasoner.model.config, "vggt_path", None) if s.model_path else None)
        self.odometry = OdometryBuffer(max_gap_s=s.odometry_max_gap_s) if s.odometry_topic else None

    def activate(self) -> None:
        s = self.settings
        if s is not None and s.odometry_topic and self._odom_sub is None:
            self._odom_sub = self.node.create_subscription(Odometry, s.odometry_topic, self._on_odometry, 50,
                                                           callback_group=self.callback_group)

    def deactivate(self) -> None:
        if self._odom_sub is not None:
            self.node.destroy_subscription(self._odom_sub)
            self._odom_sub = None

    def cleanup(self) -> None:
        self.deactivate()
        self.reasoner = None

    def close(self) -> None:
        with self._wake:
            self._stop = True
            self._wake.notify()
        self._worker.join(timeout=5.0)

    def diagnostics(self) -> dict:
        return {"geometry_computed": self.computed, "geometry_note": self.last_note}

    # -- inputs -------------------------------------------------------------------------------------------------
    def _on_odometry(self, msg: Odometry) -> None:
        p = msg.pose.pose.position
        self.odometry.add(time_to_ns(msg.header.stamp), (p.x, p.y, p.z), msg.header.frame_id)

    def has_subscribers(self) -> bool:
        pubs = [self.poses_pub, self.cloud_pub, self.depth_pub, self.depth_info_pub]
        if self.settings is not None and self.settings.publish_tf:
            pubs.append(self.tf_pub)
        return any(p.get_subscription_count() > 0 for p in pubs)

    def after_query(self, answer) -> None:
        """Queue the answered query's frames for the worker if anyone listens; never blocks the query."""
        if not answer.success or not answer.frame_stamps or self.reasoner is None or not self.has_subscribers():
            return
        with self._wake:
            self._pending = list(answer.frame_stamps)  # only the newest window matters: older requests are replaced
            self._wake.notify()

    # -- computing and publishing ---------------------------------------------------------------------------------
    def compute(self, frames) -> WindowGeometry:
        reasoner = self.reasoner
        if reasoner is None:
            raise SpaceMindError("node is not configured", ErrorCode.NOT_READY)
        with self._compute_lock:
            geometry = geometry_of_frames(reasoner.model.vggt, reasoner.processor, frames, self.geometry_settings,
                                          self.odometry, getattr(reasoner.model, "vggt_autocast", None))
            self.computed += 1
        self.last_note = geometry.note
        return geometry

    def _work(self) -> None:
        while True:
            with self._wake:
                while self._pending is None and not self._stop:
                    self._wake.wait()
                if self._stop:
                    return
                stamps, self._pending = self._pending, None
            try:
                reasoner = self.reasoner
                if reasoner is None:
                    continue
                wanted = set(stamps)
                frames = [f for f in reasoner.window.frames() if f.stamp_ns in wanted]  # some may be evicted
                self.publish(self.compute(frames))
            except Exception as exc:  # noqa: BLE001 - a failed geometry is logged, never fatal
                self.last_note = f"geometry failed: {type(exc).__name__}: {exc}"
                self.node.get_logger().warning(self.last_note)

    def messages(self, geometry: WindowGeometry) -> tuple[PoseArray, PointCloud2, Image | None, CameraInfo | None]:
        """Poses and cloud in the window frame at the first frame's stamp; the newest frame's depth (the frame's own
        pixels at VGGT's scale, never pad mode's bands) with its CameraInfo, in ``tf_camera_frame`` where /tf places
        that camera (``publish_tf``), else in ``geometry_camera_frame``."""
        first = Header(stamp=ns_to_time(geometry.frame_stamps[0]), frame_id=self.window_frame(geometry))
        depth = info = None
        if geometry.depth is not None:
            s = self.settings
            camera = s.tf_camera_frame if s.publish_tf else s.geometry_camera_frame
            header = Header(stamp=ns_to_time(geometry.frame_stamps[-1]), frame_id=camera)
            depth = depth_to_msg(geometry.depth[-1], header)
            info = camera_info_to_msg(geometry.intrinsic[-1], depth.height, depth.width, header)
        return poses_to_msg(geometry.world_from_camera, first), cloud_to_msg(geometry.cloud, first), depth, info

    def publish(self, geometry: WindowGeometry) -> None:
        poses, cloud, depth, info = self.messages(geometry)
        self.poses_pub.publish(poses)
        self.cloud_pub.publish(cloud)
        if depth is not None:
            self.depth_pub.publish(depth)
            self.depth_info_pub.publish(info)
        if self.settings.publish_tf:
            transform = self.newest_camera_transform(geometry)
            if transform.header.frame_id:  # an odometry source without a frame name: tf2 would reject it
                self.tf_pub.publish(TFMessage(transforms=[transform]))

    def newest_camera_transform(self, geometry: WindowGeometry):
        """The newest sampled camera in the window frame (the odometry frame when metric), at that frame's stamp."""
        header = Header(stamp=ns_to_time(geometry.frame_stamps[-1]), frame_id=self.window_frame(geometry))
        return transform_to_msg(geometry.world_from_camera[-1], header, self.settings.tf_camera_frame)

    def window_frame(self, geometry: WindowGeometry) -> str:
        """The frame poses, cloud and paths are in: the odometry frame when metric, else the first camera's."""
        return geometry.odometry_frame_id if geometry.metric else self.settings.geometry_camera_frame

    def route_path(self, answer, goal: str) -> tuple[Path, str]:
        """A nav_msgs/Path for route advice: ask the model (a follow-up on the same frames, so its visual prefix is
        reused) which frame shows the goal, locate the nearest confident points there, and lay waypoints from the
        newest camera to them. An empty Path and the reason where any of that fails."""
        reasoner, s = self.reasoner, self.settings
        if s is None or not s.route_path:
            return Path(), "route paths are off (route_path parameter)"
        if reasoner is None or not answer.success or not answer.frame_stamps:
            return Path(), "no route answer to locate the goal in"
        if not reasoner.model.vggt.has_dense_heads:
            return Path(), "no depth to locate the goal in: VGGT's depth head is off (geometry_dense_heads)"
        try:
            where = reasoner.ask(frame_question(goal), until=answer.frame_stamps[-1])
            if not where.success:
                return Path(), f"asking which frame shows the goal failed: {where.error_message}"
            wanted = set(where.frame_stamps)
            geometry = self.compute([f for f in reasoner.window.frames() if f.stamp_ns in wanted])
            route = route_path(geometry, goal, where.answer)
        except Exception as exc:  # noqa: BLE001 - the textual route stands; the path is explained empty
            return Path(), f"geometry failed: {type(exc).__name__}: {exc}"
        header = Header(stamp=ns_to_time(geometry.frame_stamps[0]), frame_id=self.window_frame(geometry))
        poses = poses_to_msg(route.poses, header).poses if len(route.poses) else []
        path = Path(header=header, poses=[PoseStamped(header=header, pose=p) for p in poses])
        if path.poses:
            self.route_pub.publish(path)  # for RViz and Foxglove (config/rviz, config/foxglove)
        return path, route.note

    def _on_request(self, req, res):
        t0 = time.monotonic()
        res.scale, res.residual_m = 1.0, math.nan
        try:
            reasoner = self.reasoner
            if reasoner is None or not self.node._active:
                raise SpaceMindError("node is not active: configure and activate it", ErrorCode.NOT_READY)
            until = time_to_ns(req.until) or None
            geometry = self.compute(reasoner.window.sample(until))
            res.poses, res.cloud, depth, _ = self.messages(geometry)
            if depth is not None:
                res.depth = depth
            res.frame_stamps = [ns_to_time(s) for s in geometry.frame_stamps]
            res.metric, res.note = geometry.metric, geometry.note
            if geometry.alignment is not None:
                res.scale, res.residual_m = geometry.alignment.scale, geometry.alignment.rmse
            if req.publish:
                self.publish(geometry)
            res.success = True
        except SpaceMindError as exc:
            res.error_code, res.error_message = exc.code.value, str(exc)
        except ValueError as exc:
            res.error_code, res.error_message = ErrorCode.BAD_REQUEST.value, str(exc)
        except Exception as exc:  # noqa: BLE001 - the caller gets an answer, the node lives
            self.node.get_logger().error(f"get_window_geometry failed: {type(exc).__name__}: {exc}")
            res.error_code, res.error_message = ErrorCode.INTERNAL.value, f"{type(exc).__name__}: {exc}"
        res.latency_s = float(time.monotonic() - t0)
        return res
