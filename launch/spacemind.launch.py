"""ros2 launch spacemind_ros spacemind.launch.py [params_file:=FILE] [namespace:=robot1] [model_path:=DIR] ...
ros2 launch spacemind_ros spacemind.launch.py robots:=robot1,robot2,robot3   (one process, one model, three nodes)

Starts spacemind_node with the params file (default: the installed config/spacemind.yaml); a parameter argument
overrides the file only when given. The arguments come from spacemind_ros/ros/launch_description.py, which
`spacemind_launch` (the runner, for machines without the launch package) reads too, so the two cannot drift.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node

from spacemind_ros.ros import launch_description as spec


def _node(context):
    given = {name: LaunchConfiguration(name).perform(context) for name in spec.ARGUMENTS}
    params_file = given["params_file"] or os.path.join(get_package_share_directory(spec.PACKAGE), "config",
                                                       "spacemind.yaml")
    overrides = spec.parameter_overrides(given)
    parameters = [params_file, overrides] if overrides else [params_file]
    if given["robots"].strip():
        spec.robot_namespaces(given["robots"])  # a bad list fails here, with the reason
        if given["namespace"].strip():
            raise ValueError("give namespace:= or robots:=, not both")
        # One process, a lifecycle node per robot: no node name or namespace on the action (either would be remapped
        # onto every node); each node takes its /robotN/spacemind_node section of the params file.
        return [Node(package=spec.PACKAGE, executable=spec.EXECUTABLE, output="screen", parameters=parameters,
                     arguments=spec.fleet_arguments(given["robots"]))]
    return [LifecycleNode(
        package=spec.PACKAGE, executable=spec.EXECUTABLE, name=spec.NODE_NAME,
        namespace=spec.normalize_namespace(given["namespace"]), output="screen",
        parameters=parameters,
    )]


def generate_launch_description():
    plain = ("params_file", "namespace", "robots")  # the rest are parameters: UNSET keeps the params file's value
    declared = [DeclareLaunchArgument(name, default_value="" if name in plain else spec.UNSET,
                                      description=description)
                for name, description in spec.ARGUMENTS.items()]
    return LaunchDescription([*declared, OpaqueFunction(function=_node)])
