"""Synthetic indoor scenes with known answers: generator, camera walk, ray-cast renderer, VSI-Bench questions, bags.

ROS-free (bags are written with ``rosbags``). Modules: catalog (categories), shapes (prisms, rooms), scene,
generator (seeded scenes), camera (pinhole, poses), walk (camera path), renderer (numpy ray caster), textures,
questions (ground truth), bag (rosbag2 writer), preview (map, contact sheet), dataset (files on disk), cli.
"""
from spacemind_ros.scenes.camera import Intrinsics, Pose
from spacemind_ros.scenes.dataset import SceneSettings, walkthrough_frames, write_dataset, write_scene
from spacemind_ros.scenes.generator import generate
from spacemind_ros.scenes.questions import QUESTION_TYPES, Question, make_questions
from spacemind_ros.scenes.renderer import Frame, Renderer
from spacemind_ros.scenes.scene import Scene, SceneObject, make_scene
from spacemind_ros.scenes.shapes import Prism, Room, closest_distance

__all__ = ["Frame", "Intrinsics", "Pose", "Prism", "QUESTION_TYPES", "Question", "Renderer", "Room", "Scene",
           "SceneObject", "SceneSettings", "closest_distance", "generate", "make_questions", "make_scene",
           "walkthrough_frames", "write_dataset", "write_scene"]
