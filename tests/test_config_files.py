"""config/spacemind.yaml and the launch file stay in sync with the parameter table."""
import ast
from pathlib import Path

import yaml

from spacemind_ros.ros.parameters import PARAMS, to_yaml

ROOT = Path(__file__).resolve().parents[1]


def test_yaml_is_generated_from_the_table():
    text = (ROOT / "config" / "spacemind.yaml").read_text()
    assert text == to_yaml(), "regenerate: python -c 'from spacemind_ros.ros.parameters import to_yaml; print(to_yaml(), end=\"\")' > config/spacemind.yaml"
    values = yaml.safe_load(text)["spacemind_node"]["ros__parameters"]
    assert values == {k: p.default for k, p in PARAMS.items()}


def test_launch_arguments_are_parameters():
    src = (ROOT / "launch" / "spacemind.launch.py").read_text()
    start = src.index("{", src.index("ARGUMENTS = {"))
    arguments = ast.literal_eval(src[start:src.index("}", start) + 1])  # launch itself is not installed here
    assert set(arguments) <= set(PARAMS)
