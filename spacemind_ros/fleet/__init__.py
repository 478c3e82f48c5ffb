"""Many robots, one model: the shared inference scheduler and the process-wide model pool. ROS-free."""
from spacemind_ros.fleet.model_pool import ModelKey, ModelPool, SharedModel
from spacemind_ros.fleet.scheduler import InferenceScheduler, Lane

__all__ = ["InferenceScheduler", "Lane", "ModelKey", "ModelPool", "SharedModel"]
