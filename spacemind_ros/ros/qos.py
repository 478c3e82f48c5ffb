"""QoS of the node's services and of our clients: room for many clients' requests and responses at once.

The ROS default (depth 10) loses responses when more than ten are in flight to a client's reader, or requests
beyond ten waiting at the node; a lost response leaves a client waiting until its own timeout.
"""
from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

SERVICE_DEPTH = 256
SERVICE_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=SERVICE_DEPTH,
                         reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
