"""ros2 launch spacemind_ros spacemind.launch.py [image_topic:=...] [model_path:=...] [autostart:=true] ...

Starts spacemind_node with config/spacemind.yaml; the arguments override the main parameters. Where the launch
package is not installed, `spacemind_launch` (spacemind_ros/ros/runner.py) starts the same node the same way.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode

ARGUMENTS = {
    "image_topic": "image",
    "compressed_topic": "",
    "model_path": "",
    "preset": "tiny",
    "device": "cpu",
    "window_max_frames": "128",
    "window_duration_s": "60.0",
    "keyframe_gap_s": "0.25",
    "min_frames": "4",
    "query_frames": "32",
    "queue_limit": "2",
    "default_timeout_s": "60.0",
    "autostart": "true",
}


def generate_launch_description():
    params_file = os.path.join(get_package_share_directory("spacemind_ros"), "config", "spacemind.yaml")
    declared = [DeclareLaunchArgument(name, default_value=value) for name, value in ARGUMENTS.items()]
    node = LifecycleNode(
        package="spacemind_ros", executable="spacemind_node", name="spacemind_node", namespace="",
        output="screen",
        parameters=[params_file, {name: LaunchConfiguration(name) for name in ARGUMENTS}],
    )
    return LaunchDescription([*declared, node])
