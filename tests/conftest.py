"""Test set-up: every rclpy use in this session is loopback-only, on a domain of its own."""
import os
import random

from spacemind_ros.ros.environment import apply_loopback_environment

# Before any test imports rclpy: loopback discovery, the shipped Fast DDS profile, a domain for this run.
os.environ.pop("ROS_DOMAIN_ID", None)
apply_loopback_environment(random.Random(os.getpid()).randint(1, 100))
