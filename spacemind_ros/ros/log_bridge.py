"""Python ``logging`` of the spacemind_ros package -> the node's ROS logger (console and /rosout, ROS levels)."""
from __future__ import annotations

import logging

from rclpy.logging import LoggingSeverity

_SEVERITY = [(logging.CRITICAL, LoggingSeverity.FATAL), (logging.ERROR, LoggingSeverity.ERROR),
             (logging.WARNING, LoggingSeverity.WARN), (logging.INFO, LoggingSeverity.INFO)]


class RosLogHandler(logging.Handler):
    """Forwards records (traceback included) to an rclpy logger at the matching severity."""

    def __init__(self, ros_logger, level: int = logging.INFO):
        super().__init__(level)
        self.ros_logger = ros_logger
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            severity = next((s for lvl, s in _SEVERITY if record.levelno >= lvl), LoggingSeverity.DEBUG)
            self.ros_logger.log(self.format(record), severity)
        except Exception:  # noqa: BLE001 - logging must never raise into the code that logs
            self.handleError(record)


def install(ros_logger, package: str = "spacemind_ros") -> RosLogHandler:
    """Route ``package``'s loggers to ``ros_logger``; returns the handler (pass it to :func:`remove`)."""
    handler = RosLogHandler(ros_logger)
    logger = logging.getLogger(package)
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
    return handler


def remove(handler: RosLogHandler, package: str = "spacemind_ros") -> None:
    logging.getLogger(package).removeHandler(handler)
