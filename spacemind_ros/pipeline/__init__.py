"""ROS-free query pipeline: frame window, prompting, answer parsing and the SpatialReasoner."""
from spacemind_ros.pipeline.answer import Answer, RouteAnswer
from spacemind_ros.pipeline.frame_window import Frame, FrameWindow, WindowConfig
from spacemind_ros.pipeline.reasoner import ReasonerConfig, SpatialReasoner

__all__ = ["Answer", "RouteAnswer", "Frame", "FrameWindow", "WindowConfig", "ReasonerConfig", "SpatialReasoner"]
