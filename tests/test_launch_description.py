"""launch/spacemind.launch.py and spacemind_launch come from one description: same arguments, same overrides.

The launch package is not installable here, so the launch file runs against small stand-ins of the five launch
classes it uses; what is checked is what it hands to LifecycleNode.
"""
import importlib.util
import sys
import types
from pathlib import Path

import pytest

from spacemind_ros.ros import launch_description as spec
from spacemind_ros.ros.parameters import PARAMS
from spacemind_ros.ros.runner import DEFAULT_PARAMS, node_command

ROOT = Path(__file__).resolve().parents[1]


class Recorded:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class LaunchConfiguration:
    def __init__(self, name):
        self.name = name

    def perform(self, context):
        return context[self.name]


@pytest.fixture
def launch_file(monkeypatch, tmp_path):
    stand_ins = {
        "launch": dict(LaunchDescription=Recorded), "launch.actions": dict(DeclareLaunchArgument=Recorded,
                                                                           OpaqueFunction=Recorded),
        "launch.substitutions": dict(LaunchConfiguration=LaunchConfiguration),
        "launch_ros": {}, "launch_ros.actions": dict(LifecycleNode=Recorded, Node=Recorded),
        "ament_index_python": {},
        "ament_index_python.packages": dict(get_package_share_directory=lambda p: f"/share/{p}"),
    }
    for name, attrs in stand_ins.items():
        monkeypatch.setitem(sys.modules, name, types.SimpleNamespace(**attrs))
    module_spec = importlib.util.spec_from_file_location("launch_file", ROOT / "launch" / "spacemind.launch.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    description = module.generate_launch_description()
    *declared, opaque = description.args[0]
    defaults = {d.args[0]: d.kwargs["default_value"] for d in declared}

    def node(**given):
        (lifecycle_node,) = opaque.kwargs["function"]({**defaults, **given})
        return lifecycle_node.kwargs

    return defaults, node


def runner_overrides(cmd):
    """The -p values and namespace of a runner node command."""
    pairs = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-p"]
    ns = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-r"]
    return dict(p.split(":=", 1) for p in pairs), ns


def test_arguments_are_the_shared_description(launch_file):
    defaults, _ = launch_file
    assert list(defaults) == list(spec.ARGUMENTS) == ["params_file", "namespace", "robots", *PARAMS]
    assert all(defaults[name] == spec.UNSET for name in PARAMS)  # unset: the params file decides


def test_only_arguments_the_user_set_override_the_params_file(launch_file):
    _, node = launch_file
    plain = node()
    assert plain["parameters"] == ["/share/spacemind_ros/config/spacemind.yaml"] and plain["namespace"] == ""
    assert plain["name"] == "spacemind_node" and plain["executable"] == "spacemind_node"
    given = dict(params_file="/robot/params.yaml", namespace="robot1", model_path="/models/sm",
                 window_duration_s="60", autostart="false", compressed_topic="")
    launched = node(**given)
    overrides = {"model_path": "/models/sm", "window_duration_s": 60.0, "autostart": False, "compressed_topic": ""}
    assert launched["parameters"] == ["/robot/params.yaml", overrides] and launched["namespace"] == "/robot1"
    # the runner builds the same node from the same arguments
    cmd = node_command(given["params_file"], spec.parameter_overrides(given), given["namespace"])
    assert cmd[cmd.index("--params-file") + 1] == "/robot/params.yaml"
    values, ns = runner_overrides(cmd)
    assert values == {"model_path": "/models/sm", "window_duration_s": "60.0", "autostart": "false",
                      "compressed_topic": ""} and ns == ["__ns:=/robot1"]
    assert runner_overrides(node_command(DEFAULT_PARAMS, spec.parameter_overrides({}), "")) == ({}, [])


def test_values_are_typed_and_checked():
    assert spec.parse_value("window_duration_s", "60") == 60.0 and isinstance(spec.parse_value("keyframe_gap_s", "0"),
                                                                                float)
    assert spec.parse_value("window_max_frames", "64") == 64 and spec.parse_value("autostart", "True") is True
    for name, text in [("window_max_frames", "6.5"), ("autostart", "yes please"), ("window_duration_s", "a minute")]:
        with pytest.raises(ValueError, match=name):
            spec.parse_value(name, text)
    with pytest.raises(ValueError, match="unknown argument 'model'"):
        spec.split_arguments(["model:=/m"])
    with pytest.raises(ValueError, match="NAME:=VALUE"):
        spec.split_arguments(["model_path=/m"])


def test_one_autostart_default():
    import yaml

    values = yaml.safe_load((ROOT / "config" / "spacemind.yaml").read_text())["/**"]["ros__parameters"]
    assert values["autostart"] is PARAMS["autostart"].default is True
    assert "autostart" not in runner_overrides(node_command(DEFAULT_PARAMS, spec.parameter_overrides({})))[0]


def test_robots_start_one_fleet_process(launch_file):
    _, node = launch_file
    fleet = node(robots="robot1, robot2,robot3", model_path="/models/sm")
    # no name or namespace on the action: either would be remapped onto every node of the process
    assert "name" not in fleet and "namespace" not in fleet
    assert fleet["arguments"] == ["--robots", "robot1, robot2,robot3"]
    assert fleet["parameters"] == ["/share/spacemind_ros/config/spacemind.yaml", {"model_path": "/models/sm"}]
    cmd = node_command(DEFAULT_PARAMS, {}, "", "robot1,robot2")
    assert cmd[3:6] == ["--robots", "robot1,robot2", "--ros-args"] and "-r" not in cmd
    with pytest.raises(ValueError, match="not a valid ROS namespace"):
        node(robots="robot1,robot-2")
    with pytest.raises(ValueError, match="not both"):
        node(robots="robot1,robot2", namespace="site")


def test_robot_namespaces_are_checked():
    assert spec.robot_namespaces(" robot1,/robot2/ , site_a/robot3") == ["/robot1", "/robot2", "/site_a/robot3"]
    for text, reason in [("", "one or more"), ("robot1,robot1", "repeated"), ("1robot", "not a valid"),
                         ("robøt", "not a valid")]:
        with pytest.raises(ValueError, match=reason):
            spec.robot_namespaces(text)


def test_runner_takes_arguments_before_and_after_its_options(capsys):
    from spacemind_ros.ros.runner import main

    # parsed whole (argparse's plain parse_args refuses NAME:=VALUE after --player), then stopped at the params file
    with pytest.raises(SystemExit) as exit_:
        main(["robots:=robot1,robot2", "--player", "preset:=small", "params_file:=/nonexistent.yaml"])
    assert exit_.value.code == 2 and "params_file /nonexistent.yaml does not exist" in capsys.readouterr().err
