"""Error codes shared by the pipeline, the ROS services and the CLI."""
from __future__ import annotations

from enum import Enum


class ErrorCode(str, Enum):
    """The ``error_code`` values of the SpatialQuery / RouteAdvice responses."""

    OK = ""
    NOT_READY = "NOT_READY"
    NOT_ENOUGH_FRAMES = "NOT_ENOUGH_FRAMES"
    BAD_REQUEST = "BAD_REQUEST"
    BUSY = "BUSY"
    TIMEOUT = "TIMEOUT"
    CANCELED = "CANCELED"
    INTERNAL = "INTERNAL"


class SpaceMindError(Exception):
    """An error with a response code; the message says what went wrong and what to do."""

    code = ErrorCode.INTERNAL

    def __init__(self, message: str, code: ErrorCode | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code


class BadRequestError(SpaceMindError, ValueError):
    code = ErrorCode.BAD_REQUEST


class NotEnoughFramesError(SpaceMindError):
    code = ErrorCode.NOT_ENOUGH_FRAMES


class BusyError(SpaceMindError):
    code = ErrorCode.BUSY


class QueryTimeoutError(SpaceMindError, TimeoutError):
    code = ErrorCode.TIMEOUT


class CanceledError(SpaceMindError):
    code = ErrorCode.CANCELED


class NotReadyError(SpaceMindError):
    code = ErrorCode.NOT_READY


class ImageFormatError(ValueError):
    """An image message that cannot be converted (unknown encoding, inconsistent sizes, undecodable data)."""


class CheckpointError(RuntimeError):
    """A missing, truncated or mismatched model file; the message names the file and the first bad key."""
