"""The node's and the demo's console: transformers' loading bar and library warnings go to the debug log; this
package's own warnings still print."""
import subprocess
import sys

PROGRAM = """
import logging, sys, warnings
logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, format="LOG %(name)s %(message)s")
for name in ("urllib3", "filelock", "matplotlib", "PIL"):
    logging.getLogger(name).setLevel(logging.WARNING)
from spacemind_ros.frameworks import PACKAGE_DIR, quiet_frameworks
if sys.argv[1] == "quiet":
    quiet_frameworks()
from spacemind_ros.model.presets import load_model
load_model(preset="small")
warnings.warn_explicit("a warning of our own", UserWarning, str(PACKAGE_DIR / "pipeline" / "reasoner.py"), 1)
"""


def run(mode):
    proc = subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, proc.stderr


def test_library_chatter_goes_to_the_debug_log_and_ours_still_prints():
    out, err = run("loud")  # what the console showed before: the test can tell the difference
    assert "Loading weights" in err and "FutureWarning" in err
    out, err = run("quiet")
    assert "Loading weights" not in err and "FutureWarning" not in err, err[-2000:]
    assert "a warning of our own" in err
    assert "LOG spacemind_ros.frameworks" in out and "FutureWarning" in out  # kept, at debug level
