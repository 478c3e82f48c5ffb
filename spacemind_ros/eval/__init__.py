"""Evaluation: question files, bag replay (offline through the pipeline, live through a node), the official
VSI-Bench scorer, reports and the video-to-bag converter. ROS-free except ``live`` (rclpy imported when it runs)."""
