"""Window geometry over ROS: message layouts, and across processes (node in a child process, client here)."""
import math
import time

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseArray
from nav_msgs.msg import Odometry
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from tf2_msgs.msg import TFMessage
from spacemind_interfaces.srv import GetWindowGeometry, RouteAdvice, SpatialQuery
from std_msgs.msg import Header

from spacemind_ros.geometry.cloud import PointCloud
from spacemind_ros.images import array_to_image_msg
from spacemind_ros.ros.geometry_conversions import cloud_to_msg, depth_to_msg, poses_to_msg
from tests.rostools import call, ros_node, start_node, stop, wait_for

S = 1_000_000_000
SIZES = {PointField.FLOAT32: 4, PointField.UINT32: 4, PointField.UINT8: 1}


def read_cloud(msg: PointCloud2):
    """A reader written from the PointCloud2 definition: each field at its offset in each point_step record."""
    assert msg.height == 1 and not msg.is_bigendian
    data = bytes(msg.data)
    assert len(data) == msg.row_step * msg.height and msg.row_step == msg.point_step * msg.width
    fields = {f.name: f for f in msg.fields}
    xyz = np.zeros((msg.width, 3), np.float32)
    rgb = np.zeros((msg.width, 3), np.uint8)
    for i in range(msg.width):
        base = i * msg.point_step
        for k, name in enumerate("xyz"):
            f = fields[name]
            xyz[i, k] = np.frombuffer(data, "<f4", 1, base + f.offset)[0]
        packed = int(np.frombuffer(data, "<u4", 1, base + fields["rgb"].offset)[0])
        rgb[i] = (packed >> 16) & 255, (packed >> 8) & 255, packed & 255
    return xyz, rgb


def test_pointcloud2_standard_layout_and_empty_cloud():
    pts = np.array([[1.0, -2.0, 3.5], [0.25, 0.0, -1.0], [1e3, 2e-3, 7.0]])
    cols = np.array([[255, 0, 0], [1, 2, 3], [0, 128, 255]], np.uint8)
    msg = cloud_to_msg(PointCloud(pts, cols), Header(frame_id="odom"))
    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        ("x", 0, PointField.FLOAT32, 1), ("y", 4, PointField.FLOAT32, 1), ("z", 8, PointField.FLOAT32, 1),
        ("rgb", 12, PointField.FLOAT32, 1)]
    assert msg.point_step == 16 and msg.row_step == 48 and msg.width == 3 and msg.is_dense
    xyz, rgb = read_cloud(msg)
    np.testing.assert_allclose(xyz, pts.astype(np.float32))
    assert rgb.tolist() == cols.tolist()
    empty = cloud_to_msg(PointCloud.empty(), Header(frame_id="odom"))
    assert empty.width == 0 and empty.row_step == 0 and len(empty.data) == 0 and empty.point_step == 16
    assert len(empty.fields) == 4 and read_cloud(empty)[0].shape == (0, 3)


def test_pose_array_and_depth_messages():
    T = np.tile(np.eye(4), (2, 1, 1))
    T[1, :3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]
    T[1, :3, 3] = [1, 2, 3]
    msg = poses_to_msg(T, Header(frame_id="cam"))
    assert len(msg.poses) == 2 and msg.poses[0].orientation.w == 1.0
    p = msg.poses[1]
    assert (p.position.x, p.position.y, p.position.z) == (1, 2, 3)
    assert p.orientation.z == pytest.approx(math.sqrt(0.5)) and p.orientation.w == pytest.approx(math.sqrt(0.5))
    depth = np.arange(6, dtype=np.float32).reshape(2, 3)
    img = depth_to_msg(depth, Header())
    assert (img.encoding, img.height, img.width, img.step, img.is_bigendian) == ("32FC1", 2, 3, 12, 0)
    np.testing.assert_array_equal(np.frombuffer(bytes(img.data), "<f4").reshape(2, 3), depth)


# -- across processes ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def geometry_node():
    proc = start_node(autostart=True, keyframe_gap_s=0.0, min_frames=4, geometry_dense_heads=True,
                      geometry_max_points=500, odometry_topic="odom", odometry_max_gap_s=0.05)
    with ros_node("geometry_test_client") as node:
        try:
            query = node.create_client(SpatialQuery, "/spatial_query")
            service = node.create_client(GetWindowGeometry, "/spacemind_node/get_window_geometry")
            route = node.create_client(RouteAdvice, "/route_advice")
            assert query.wait_for_service(timeout_sec=60.0) and service.wait_for_service(timeout_sec=60.0)
            diagnostics = []
            node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 10)
            images = node.create_publisher(Image, "image", qos_profile_sensor_data)
            odom = node.create_publisher(Odometry, "odom", 50)
            assert wait_for(lambda: node.count_subscribers("/image") > 0 and node.count_subscribers("/odom") > 0,
                            timeout=60)
            yield dict(node=node, query=query, service=service, route=route, diagnostics=diagnostics,
                       images=images, odom=odom)
        finally:
            out = stop(proc, timeout=30)  # a loaded 2-core machine can take a while to tear down
    assert proc.returncode in (0, -15), out[-3000:]


def stamp(ns):
    return Time(sec=ns // S, nanosec=ns % S)


def publish_window(c, n=8, t0=100 * S):
    rng = np.random.default_rng(0)
    stamps = [t0 + i * S // 10 for i in range(n)]
    for i, ns in enumerate(stamps):
        # Odometry on a circle in metres (a non-straight path, so the similarity is determined)
        o = Odometry(header=Header(stamp=stamp(ns), frame_id="odom"), child_frame_id="base_link")
        o.pose.pose.position.x, o.pose.pose.position.y = math.cos(0.4 * i), math.sin(0.4 * i)
        c["odom"].publish(o)
        img = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        c["images"].publish(array_to_image_msg(img, "rgb8", header=Header(stamp=stamp(ns), frame_id="camera")))
        time.sleep(0.02)  # a camera's pace: a burst overruns the sensor-data QoS history of 5
    return stamps


def fill_window(c, t0, want):
    """Publish (again) until the node holds ``want`` frames: best-effort images may be lost under load."""
    stamps = publish_window(c, t0=t0)
    assert wait_for(lambda: int(diag(c)["window_fill"]) >= want or publish_window(c, t0=t0) and False, timeout=60)
    return stamps


def diag(c):
    c["diagnostics"].clear()
    assert wait_for(lambda: c["diagnostics"], timeout=10)
    return {kv.key: kv.value for s in c["diagnostics"][-1].status for kv in s.values}


@pytest.mark.ros
def test_geometry_only_when_subscribed_then_published_after_a_query(geometry_node):
    c = geometry_node
    stamps = fill_window(c, 100 * S, 8)
    res = call(c["node"], c["query"], SpatialQuery.Request(question="How many boxes are there?"))
    assert res.success, res.error_message
    d = diag(c)
    assert d["geometry_computed"] == "0"  # nobody listens: nothing computed

    got = {"poses": [], "cloud": [], "depth": [], "info": [], "tf": []}
    node = c["node"]
    node.create_subscription(PoseArray, "/spacemind_node/window_poses", got["poses"].append, 1)
    node.create_subscription(PointCloud2, "/spacemind_node/window_cloud", got["cloud"].append, 1)
    node.create_subscription(Image, "/spacemind_node/depth", got["depth"].append, 1)
    node.create_subscription(CameraInfo, "/spacemind_node/depth/camera_info", got["info"].append, 1)
    node.create_subscription(TFMessage, "/tf", got["tf"].append, 100)
    assert wait_for(lambda: node.count_publishers("/spacemind_node/window_cloud") > 0, timeout=30)
    res = call(node, c["query"], SpatialQuery.Request(question="How many boxes are there?"))
    assert res.success, res.error_message
    assert wait_for(lambda: got["poses"] and got["cloud"] and got["depth"] and got["info"], timeout=60)
    poses, cloud, depth = got["poses"][-1], got["cloud"][-1], got["depth"][-1]
    frame_ns = [t.sec * S + t.nanosec for t in res.frame_stamps]
    assert len(poses.poses) == len(frame_ns) and set(frame_ns) <= set(stamps)
    assert poses.header.stamp == res.frame_stamps[0] and poses.header.frame_id == cloud.header.frame_id
    # Odometry was matched at every stamp: metric, in the odometry frame
    assert poses.header.frame_id == "odom"
    xyz, _ = read_cloud(cloud)
    assert 0 < cloud.width <= 500 and np.isfinite(xyz).all()
    assert depth.encoding == "32FC1" and depth.header.stamp == res.frame_stamps[-1]
    # the tiny preset pads 64x48 frames to 56x56 (pad mode, 7 white rows above and below): only the 56x42 frame is
    # published, with the intrinsics of that image
    # in the newest camera's frame, which /tf places (below)
    assert depth.header.frame_id == "spacemind_camera" and (depth.width, depth.height) == (56, 42)
    info = got["info"][-1]
    assert info.header == depth.header and (info.width, info.height) == (56, 42)
    K = np.array(info.k).reshape(3, 3)
    assert (K[0, 2], K[1, 2]) == pytest.approx((28.0, 21.0))  # VGGT's centred principal point, moved 7 rows up
    assert K[0, 0] > 0 and K[1, 1] > 0 and K[2, 2] == 1 and np.array(info.p).reshape(3, 4)[:, :3].tolist() == K.tolist()
    assert info.distortion_model == "plumb_bob" and not any(info.d)
    # /tf: the newest sampled camera in the window frame (odom: metric), the same pose as the last of window_poses
    assert wait_for(lambda: got["tf"], timeout=30)
    (tf,) = got["tf"][-1].transforms
    assert (tf.header.frame_id, tf.child_frame_id, tf.header.stamp) == ("odom", "spacemind_camera", depth.header.stamp)
    last = poses.poses[-1]
    assert [tf.transform.translation.x, tf.transform.translation.y, tf.transform.translation.z] == pytest.approx(
        [last.position.x, last.position.y, last.position.z], abs=1e-6)
    assert [tf.transform.rotation.w, tf.transform.rotation.z] == pytest.approx(
        [last.orientation.w, last.orientation.z], abs=1e-6)
    # the type TF listeners use: the upstream definition's RIHS01 hash (rosbags computes it from ROS 2 Kilted's)
    from rosbags.typesys import Stores, get_typestore

    (endpoint,) = [e for e in node.get_publishers_info_by_topic("/tf") if e.node_name == "spacemind_node"]
    assert endpoint.topic_type == "tf2_msgs/msg/TFMessage"
    assert str(endpoint.topic_type_hash) == get_typestore(Stores.ROS2_KILTED).hash_rihs01("tf2_msgs/msg/TFMessage")
    assert int(diag(c)["geometry_computed"]) >= 1


@pytest.mark.ros
def test_get_window_geometry_service_reports_alignment(geometry_node):
    c = geometry_node
    fill_window(c, 110 * S, 8)  # within window_duration_s of the first window
    res = call(c["node"], c["service"], GetWindowGeometry.Request())
    assert res.success, res.error_message
    assert len(res.poses.poses) == len(res.frame_stamps) >= 4
    assert res.metric and res.poses.header.frame_id == "odom" and res.scale > 0
    assert math.isfinite(res.residual_m) and "residual RMS" in res.note
    assert res.cloud.width > 0 and res.depth.encoding == "32FC1"
    until = 110 * S + 5 * S // 10
    earlier = call(c["node"], c["service"], GetWindowGeometry.Request(until=stamp(until)))
    assert earlier.success and [t.sec * S + t.nanosec for t in earlier.frame_stamps][-1] == until
    bad = call(c["node"], c["service"], GetWindowGeometry.Request(until=stamp(S)))
    assert not bad.success and bad.error_code == "BAD_REQUEST" and "before the oldest frame" in bad.error_message


@pytest.mark.ros
def test_route_advice_carries_a_path_or_says_why_not(geometry_node):
    c = geometry_node
    fill_window(c, 120 * S, 8)
    res = call(c["node"], c["route"], RouteAdvice.Request(goal="the red box"), timeout=120)
    assert res.success, res.error_message
    assert res.steps is not None and res.path_note  # the textual steps stay; the path is explained either way
    if res.path.poses:  # the tiny model named a frame: waypoints in the odometry frame, from the newest camera
        assert res.path.header.frame_id == "odom" and "odometry frame odom" in res.path_note
        assert all(math.isfinite(p.pose.position.x) for p in res.path.poses)
    else:
        assert "did not name a frame" in res.path_note or "no confident depth" in res.path_note


def test_route_advice_response_with_a_path_prints_as_json():
    import json

    from geometry_msgs.msg import PoseStamped

    from spacemind_ros.ros.client import response_dict

    res = RouteAdvice.Response(success=True, steps=["go"], path_note="straight line")
    res.path.header.frame_id = "odom"
    pose = PoseStamped()
    pose.pose.position.x, pose.pose.orientation.w = 1.5, 1.0
    res.path.poses = [pose]
    out = json.loads(json.dumps(response_dict(res)))
    assert out["path"] == {"frame_id": "odom", "poses": [[1.5, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]]}
    assert out["path_note"] == "straight line" and out["steps"] == ["go"]
