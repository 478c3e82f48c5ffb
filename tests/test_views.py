"""config/rviz/spacemind.rviz and config/foxglove/spacemind.json name only topics the node has, with the message
types their displays draw (checked against a running node, from another process)."""
import json
from pathlib import Path

import pytest
import yaml

from tests.rostools import ros_node, start_node, stop, wait_for

ROOT = Path(__file__).resolve().parents[1]
RVIZ_TYPES = {"rviz_default_plugins/Image": "sensor_msgs/msg/Image",
              "rviz_default_plugins/PoseArray": "geometry_msgs/msg/PoseArray",
              "rviz_default_plugins/PointCloud2": "sensor_msgs/msg/PointCloud2",
              "rviz_default_plugins/Path": "nav_msgs/msg/Path"}


def rviz_topics() -> dict[str, str]:
    """topic -> the message type its display draws."""
    config = yaml.safe_load((ROOT / "config" / "rviz" / "spacemind.rviz").read_text())
    return {d["Topic"]["Value"]: RVIZ_TYPES[d["Class"]] for d in config["Visualization Manager"]["Displays"]
            if "Topic" in d}


def foxglove_topics() -> set[str]:
    config = json.loads((ROOT / "config" / "foxglove" / "spacemind.json").read_text())
    topics = set()
    for panel in config["configById"].values():
        topics |= set(panel.get("topics", {}))
        topics |= {v for k, v in panel.get("imageMode", {}).items() if k.endswith("Topic")}
        topics |= {panel[k] for k in ("topicPath", "topicToRender") if k in panel}
    panels = set(config["configById"])

    def leaves(node):
        return {node} if isinstance(node, str) else leaves(node["first"]) | leaves(node["second"])

    assert leaves(config["layout"]) == panels  # every panel is placed, none missing
    return topics


@pytest.mark.ros
def test_every_topic_the_views_name_is_the_nodes():
    rviz, foxglove = rviz_topics(), foxglove_topics()
    assert {"/spacemind_node/window_cloud", "/spacemind_node/route_path", "/image"} <= set(rviz) & foxglove
    proc = start_node(autostart=True)
    try:
        with ros_node("views_probe") as node:
            def node_topics():
                pubs = dict((n, t[0]) for n, t in node.get_publisher_names_and_types_by_node("spacemind_node", "/"))
                subs = dict((n, t[0]) for n, t in node.get_subscriber_names_and_types_by_node("spacemind_node", "/"))
                return pubs, subs

            def listening() -> bool:
                try:
                    return "/image" in node_topics()[1]
                except Exception:  # noqa: BLE001 - not discovered yet
                    return False

            assert wait_for(listening, timeout=60)
            published, subscribed = node_topics()
    finally:
        stop(proc, timeout=30)
    for topic in foxglove | set(rviz):
        if topic == "/image":  # the camera the node listens to, drawn beside what it makes of it
            assert subscribed[topic] == "sensor_msgs/msg/Image"
            continue
        assert topic in published, f"{topic} is named by a view but spacemind_node does not publish it"
    for topic, msg_type in rviz.items():
        assert (subscribed if topic == "/image" else published)[topic] == msg_type, topic
