"""spacemind_ros: SpaceMind spatial reasoning for ROS 2 (ament_python package)."""
from glob import glob

from setuptools import find_packages, setup

package_name = "spacemind_ros"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(include=[package_name, f"{package_name}.*"]),
    package_data={package_name: ["ros/*.xml", "engine/data/*.tsv", "model/weights/small/*",
                                 "model/weights/small/*/*"]},  # the shipped small checkpoint
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
        (f"share/{package_name}/launch", glob("launch/*.launch.py")),
        (f"share/{package_name}/config", glob("config/*.yaml")),
        (f"share/{package_name}/config/train", glob("config/train/*.yaml")),
    ],
    python_requires=">=3.11",
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="SpaceMind maintainers",
    maintainer_email="spacemind@example.com",
    description="3D spatial question answering (SpaceMind: InternVL3 + VGGT + CGMF) as a ROS 2 node",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "spacemind = spacemind_ros.cli:main",
            "spacemind_node = spacemind_ros.ros.node:main",
            "spacemind_launch = spacemind_ros.ros.runner:main",
            "spacemind-scenes = spacemind_ros.scenes.cli:main",
            "spacemind-train = spacemind_ros.train.cli:main",
            "spacemind-eval = spacemind_ros.eval.cli:main",
            "spacemind-engine = spacemind_ros.engine.cli:main",
        ],
    },
)
