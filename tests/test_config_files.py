"""config/spacemind.yaml and the launch file stay in sync with the parameter table."""
import sys
from pathlib import Path

import yaml

from spacemind_ros.ros.parameters import PARAMS, to_yaml

ROOT = Path(__file__).resolve().parents[1]


def test_yaml_is_generated_from_the_table():
    text = (ROOT / "config" / "spacemind.yaml").read_text()
    assert text == to_yaml(), "regenerate: python -c 'from spacemind_ros.ros.parameters import to_yaml; print(to_yaml(), end=\"\")' > config/spacemind.yaml"
    values = yaml.safe_load(text)["/**"]["ros__parameters"]  # any namespace, any node name
    assert values == {k: p.default for k, p in PARAMS.items()}


def test_params_file_is_found_in_an_installed_share_dir(tmp_path, monkeypatch):
    from spacemind_ros.ros.runner import SOURCE_PARAMS, default_params_file

    assert default_params_file() == SOURCE_PARAMS  # a source checkout uses its own config/
    prefix = tmp_path / "install" / "spacemind_ros"  # what colcon installs (setup.py data_files)
    (prefix / "share" / "ament_index" / "resource_index" / "packages").mkdir(parents=True)
    (prefix / "share" / "ament_index" / "resource_index" / "packages" / "spacemind_ros").touch()
    installed = prefix / "share" / "spacemind_ros" / "config" / "spacemind.yaml"
    installed.parent.mkdir(parents=True)
    installed.write_text(to_yaml())
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(prefix))
    assert default_params_file(source=tmp_path / "no-checkout.yaml") == installed
    monkeypatch.delenv("AMENT_PREFIX_PATH")  # a plain pip install: the venv's share dir, if it has one
    pip_installed = Path(sys.prefix) / "share" / "spacemind_ros" / "config" / "spacemind.yaml"
    assert default_params_file(source=tmp_path / "no-checkout.yaml") == (pip_installed if pip_installed.is_file()
                                                                          else None)
