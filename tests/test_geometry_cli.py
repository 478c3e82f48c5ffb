"""``spacemind geometry``: a bag with images and odometry -> cloud.ply, poses.json, topdown.png."""
import json
import math

import numpy as np
from PIL import Image as PILImage

from spacemind_ros.cli import main
from spacemind_ros.geometry.cloud import PointCloud
from spacemind_ros.geometry.export import read_ply, write_ply

S = 1_000_000_000


def write_bag(path, n=8):
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY)
    T = store.types
    Image, Odometry, Header, Time = (T[k] for k in ("sensor_msgs/msg/Image", "nav_msgs/msg/Odometry",
                                                     "std_msgs/msg/Header", "builtin_interfaces/msg/Time"))
    Pose, PoseWC, Point, Quat = (T[k] for k in ("geometry_msgs/msg/Pose", "geometry_msgs/msg/PoseWithCovariance",
                                                 "geometry_msgs/msg/Point", "geometry_msgs/msg/Quaternion"))
    Twist, TwistWC, Vec = (T[k] for k in ("geometry_msgs/msg/Twist", "geometry_msgs/msg/TwistWithCovariance",
                                          "geometry_msgs/msg/Vector3"))
    rng = np.random.default_rng(0)
    with Writer(path, version=8) as writer:
        images = writer.add_connection("/camera/image_raw", Image.__msgtype__, typestore=store)
        odom = writer.add_connection("/odom", Odometry.__msgtype__, typestore=store)
        for i in range(n):
            ns = 5 * S + i * S // 5
            header = Header(stamp=Time(sec=ns // S, nanosec=ns % S), frame_id="odom")
            pose = Pose(position=Point(x=math.cos(0.3 * i), y=math.sin(0.3 * i), z=0.0),
                        orientation=Quat(x=0.0, y=0.0, z=0.0, w=1.0))
            zero = Vec(x=0.0, y=0.0, z=0.0)
            msg = Odometry(header=header, child_frame_id="base_link",
                           pose=PoseWC(pose=pose, covariance=np.zeros(36)),
                           twist=TwistWC(twist=Twist(linear=zero, angular=zero), covariance=np.zeros(36)))
            writer.write(odom, ns, store.serialize_cdr(msg, Odometry.__msgtype__))
            rgb = rng.integers(0, 255, (42, 56, 3), dtype=np.uint8)
            img = Image(header=Header(stamp=header.stamp, frame_id="camera"), height=42, width=56, encoding="rgb8",
                        is_bigendian=0, step=56 * 3, data=rgb.reshape(-1))
            writer.write(images, ns, store.serialize_cdr(img, Image.__msgtype__))


def test_geometry_command_writes_ply_json_png(tmp_path, capsys):
    write_bag(tmp_path / "run")
    out = tmp_path / "out"
    code = main(["geometry", "--bag", str(tmp_path / "run"), "--odom-topic", "/odom", "--out", str(out),
                 "--max-points", "300", "--preset", "tiny"])  # random weights: confident points even on noise
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["metric"] and summary["frame"] == "odom" and "tiny preset" in summary["warning"]
    poses = json.loads((out / "poses.json").read_text())
    assert len(poses["frames"]) == 8 and poses["residual_rms_m"] >= 0
    assert [f["stamp_ns"] for f in poses["frames"]] == [5 * S + i * S // 5 for i in range(8)]
    cloud = read_ply(out / "cloud.ply")
    assert 0 < len(cloud) <= 300 and len(cloud) == poses["points"]
    png = PILImage.open(out / "topdown.png")
    assert png.size == (800, 800)
    assert (np.asarray(png) != 255).any()


def test_the_default_small_model_says_what_its_geometry_is(tmp_path, capsys):
    write_bag(tmp_path / "run", n=6)
    assert main(["geometry", "--bag", str(tmp_path / "run"), "--out", str(tmp_path / "o"), "--max-points", "50"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert "small preset" in summary["warning"] and "synthetic rooms" in summary["warning"]
    assert (tmp_path / "o" / "poses.json").is_file()


def test_geometry_command_explains_a_missing_odometry_topic(tmp_path, capsys):
    write_bag(tmp_path / "run", n=4)
    code = main(["geometry", "--bag", str(tmp_path / "run"), "--odom-topic", "/nope", "--out", str(tmp_path / "o")])
    assert code == 2 and "odometry topic '/nope' is not in" in capsys.readouterr().err


def test_ply_round_trip(tmp_path):
    cloud = PointCloud(np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]]), np.array([[1, 2, 3], [250, 0, 7]]))
    write_ply(cloud, tmp_path / "c.ply")
    back = read_ply(tmp_path / "c.ply")
    np.testing.assert_array_equal(back.points, cloud.points)
    np.testing.assert_array_equal(back.colors, cloud.colors)
    assert (tmp_path / "c.ply").read_bytes().startswith(b"ply\nformat binary_little_endian 1.0\nelement vertex 2\n")
