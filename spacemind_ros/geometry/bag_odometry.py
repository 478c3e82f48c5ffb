"""Positions from a ROS 2 bag (rosbags, no ROS install needed): nav_msgs/Odometry, or geometry_msgs/PoseStamped
(e.g. the ground-truth camera poses of a generated scene)."""
from __future__ import annotations

from pathlib import Path

from spacemind_ros.geometry.odometry import OdometryBuffer


def odometry_from_bag(bag: str | Path, topic: str, max_gap_s: float = 0.5) -> OdometryBuffer:
    """Every message of ``topic`` (header stamps) in an OdometryBuffer large enough to hold them all."""
    from rosbags.highlevel import AnyReader

    with AnyReader([Path(bag)]) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        if not connections:
            topics = sorted({c.topic for c in reader.connections})
            raise ValueError(f"odometry topic {topic!r} is not in {bag}; it has: {', '.join(topics)}")
        samples = []
        for connection, timestamp, raw in reader.messages(connections=connections):
            msg = reader.deserialize(raw, connection.msgtype)
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec or timestamp
            p = msg.pose.pose.position if hasattr(msg.pose, "pose") else msg.pose.position
            samples.append((stamp, (p.x, p.y, p.z), msg.header.frame_id))
    buffer = OdometryBuffer(max_samples=max(len(samples), 1), max_gap_s=max_gap_s)
    for stamp, position, frame_id in sorted(samples, key=lambda s: s[0]):
        buffer.add(stamp, position, frame_id)
    return buffer
