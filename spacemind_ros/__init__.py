"""SpaceMind spatial reasoning for robots.

The core (``model``, ``pipeline``, ``images``) is ROS-free; only ``spacemind_ros.ros`` imports rclpy.
"""

__version__ = "0.1.0"
