"""Keep the libraries' chatter out of the node's and the demo's console: transformers' weight-loading bars off,
and Python warnings raised outside this package (deprecations inside transformers, peft, torch) logged at debug
level on ``spacemind_ros.frameworks`` instead of printed. This package's own warnings still print."""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

log = logging.getLogger("spacemind_ros.frameworks")
PACKAGE_DIR = Path(__file__).resolve().parent
_installed = False


def _is_ours(filename: str) -> bool:
    try:
        return Path(filename).resolve().is_relative_to(PACKAGE_DIR)
    except (OSError, ValueError):
        return False


def quiet_frameworks() -> None:
    """Install once per process (idempotent): no loading bars, framework warnings to the debug log."""
    global _installed
    if _installed:
        return
    _installed = True
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights: 100%|...|" on every from_pretrained
        hf_logging.set_verbosity_error()
    except ImportError:
        pass
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if _is_ours(filename):
            shown(message, category, filename, lineno, file, line)
        else:
            log.debug("%s:%s: %s: %s", filename, lineno, category.__name__, message)

    warnings.showwarning = show
