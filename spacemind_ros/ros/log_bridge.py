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
            _log(self.ros_logger, severity, self.format(record))
        except Exception:  # noqa: BLE001 - logging must never raise into the code that logs
            self.handleError(record)


def _log(ros_logger, severity: LoggingSeverity, text: str) -> None:
    # rclpy keys each logger's settings by call site (file, line) and raises "Logger severity cannot be changed
    # between calls" when one site logs another severity: one call site per severity, never one for all.
    if severity == LoggingSeverity.FATAL:
        ros_logger.fatal(text)
    elif severity == LoggingSeverity.ERROR:
        ros_logger.error(text)
    elif severity == LoggingSeverity.WARN:
        ros_logger.warning(text)
    elif severity == LoggingSeverity.INFO:
        ros_logger.info(text)
    else:
        ros_logger.debug(text)


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
