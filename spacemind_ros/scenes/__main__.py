"""``python -m spacemind_ros.scenes`` = ``spacemind-scenes``."""
import sys

from spacemind_ros.scenes.cli import main

sys.exit(main())
