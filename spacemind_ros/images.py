"""sensor_msgs/Image and CompressedImage <-> numpy, without cv_bridge.

Works on any object with the message's fields (``height, width, encoding, is_bigendian, step, data``), so the core
stays ROS-free; :func:`array_to_image_msg` needs a message class (sensor_msgs.msg.Image by default, imported lazily).
A ROS 2 cv_bridge is used for decoding when it imports (a workstation with a full ROS install); the checks here run
either way, so errors read the same.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from spacemind_ros.errors import ImageFormatError


@dataclass(frozen=True)
class Encoding:
    dtype: np.dtype
    channels: int


ENCODINGS: dict[str, Encoding] = {
    "rgb8": Encoding(np.dtype(np.uint8), 3),
    "bgr8": Encoding(np.dtype(np.uint8), 3),
    "rgba8": Encoding(np.dtype(np.uint8), 4),
    "bgra8": Encoding(np.dtype(np.uint8), 4),
    "mono8": Encoding(np.dtype(np.uint8), 1),
    "16UC1": Encoding(np.dtype(np.uint16), 1),
    "mono16": Encoding(np.dtype(np.uint16), 1),
    "32FC1": Encoding(np.dtype(np.float32), 1),
}
COLOR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")


def _encoding(name: str) -> Encoding:
    try:
        return ENCODINGS[name]
    except KeyError:
        raise ImageFormatError(
            f"unsupported image encoding {name!r}; supported: {', '.join(ENCODINGS)}"
        ) from None


@lru_cache(maxsize=1)
def _cv_bridge():
    try:  # a ROS 2 cv_bridge (the PyPI 'cv-bridge' is ROS 1 code and fails to import with numpy 2)
        from cv_bridge import CvBridge

        return CvBridge()
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return None


def image_msg_to_array(msg, copy: bool = True) -> np.ndarray:
    """Decode an Image message: ``[H, W, C]`` (C = 3 or 4) or ``[H, W]`` (mono/depth), native byte order.

    ``copy=False`` returns a view of ``msg.data`` where the layout allows (little-endian data); the view keeps that
    buffer alive, so it may be kept as long as nothing writes to ``msg.data``. ``copy=True`` returns an owned array.

    Row padding (``step`` > width * bytes per pixel) is removed. Raises ImageFormatError for an unknown encoding,
    a zero size, a ``step`` too small for the width, or a data length other than ``step * height``.
    """
    enc = _encoding(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageFormatError(f"image has zero size ({width}x{height})")
    row_bytes = width * enc.channels * enc.dtype.itemsize
    if step < row_bytes:
        raise ImageFormatError(
            f"step {step} is smaller than width * bytes per pixel = {row_bytes} for {msg.encoding} {width}x{height}"
        )
    data = msg.data
    nbytes = len(data)
    if nbytes != step * height:
        raise ImageFormatError(
            f"data length {nbytes} != step * height = {step} * {height} = {step * height} ({msg.encoding})"
        )
    bridge = _cv_bridge()
    if bridge is not None:
        return np.array(bridge.imgmsg_to_cv2(msg, desired_encoding="passthrough"), copy=copy)
    try:
        buf = np.frombuffer(data, np.uint8)  # rclpy gives array.array('B'): a buffer, no copy
    except TypeError:  # a plain sequence of ints
        buf = np.asarray(data, dtype=np.uint8)
    rows = buf.reshape(height, step)[:, :row_bytes]
    dtype = enc.dtype.newbyteorder(">" if msg.is_bigendian else "<")
    arr = rows.view(dtype).reshape(height, width, enc.channels)
    arr = arr.astype(enc.dtype, copy=copy)  # native byte order; a copy only when asked or byte-swapping
    return arr[:, :, 0] if enc.channels == 1 else arr


def array_to_image_msg(array: np.ndarray, encoding: str, msg_type=None, header=None, step: int | None = None):
    """Build an Image message from ``[H, W, C]`` or ``[H, W]``; ``step`` > minimum pads each row with zeros."""
    enc = _encoding(encoding)
    arr = np.asarray(array)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] != enc.channels:
        raise ImageFormatError(f"array of shape {np.shape(array)} does not fit {encoding} ({enc.channels} channels)")
    if arr.dtype != enc.dtype:
        raise ImageFormatError(f"array dtype {arr.dtype} does not fit {encoding} ({enc.dtype})")
    height, width = arr.shape[:2]
    if height == 0 or width == 0:
        raise ImageFormatError("cannot encode an image of zero size")
    row_bytes = width * enc.channels * enc.dtype.itemsize
    step = row_bytes if step is None else int(step)
    if step < row_bytes:
        raise ImageFormatError(f"step {step} is smaller than the row size {row_bytes}")
    raw = np.ascontiguousarray(arr, dtype=enc.dtype.newbyteorder("<")).view(np.uint8).reshape(height, row_bytes)
    if step > row_bytes:
        raw = np.pad(raw, ((0, 0), (0, step - row_bytes)))
    if msg_type is None:
        from sensor_msgs.msg import Image as msg_type  # noqa: N813 - lazy ROS import
    msg = msg_type()
    if header is not None:
        msg.header = header
    msg.height, msg.width, msg.encoding = height, width, encoding
    msg.is_bigendian = 0  # data is written little-endian above
    msg.step = step
    msg.data = raw.tobytes()  # bytes, not ndarray: assigning an array to a message field is ~40x slower
    return msg


def to_rgb8(array: np.ndarray, encoding: str) -> np.ndarray:
    """Convert a decoded colour image to ``[H, W, 3]`` uint8 RGB (alpha dropped, mono repeated)."""
    if encoding not in COLOR_ENCODINGS:
        raise ImageFormatError(f"{encoding!r} is not a colour encoding; the model takes {', '.join(COLOR_ENCODINGS)}")
    if encoding == "rgb8":
        return array
    if encoding == "bgr8":
        return np.ascontiguousarray(array[:, :, ::-1])
    if encoding == "rgba8":
        return np.ascontiguousarray(array[:, :, :3])
    if encoding == "bgra8":
        return np.ascontiguousarray(array[:, :, 2::-1])
    return np.repeat(array[:, :, None], 3, axis=2)


def image_msg_to_rgb8(msg, copy: bool = True) -> np.ndarray:
    """An Image message as ``[H, W, 3]`` uint8 RGB (the model's input); ``copy=False`` may view ``msg.data``."""
    return to_rgb8(image_msg_to_array(msg, copy=copy), msg.encoding)


def compressed_msg_to_rgb8(msg) -> np.ndarray:
    """Decode a CompressedImage (jpeg or png) into ``[H, W, 3]`` uint8 RGB."""
    from PIL import Image, UnidentifiedImageError

    fmt = (msg.format or "").lower()
    if fmt and not any(k in fmt for k in ("jpeg", "jpg", "png")):
        raise ImageFormatError(f"unsupported compressed format {msg.format!r}; expected jpeg or png")
    if len(msg.data) == 0:
        raise ImageFormatError("compressed image has no data")
    try:
        with Image.open(io.BytesIO(bytes(msg.data))) as im:
            im.load()
            rgb = im.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageFormatError(f"compressed image ({msg.format or 'unknown format'}) failed to decode: {exc}") from exc
    # image_transport writes formats like "bgr8; jpeg compressed bgr8"; JPEG/PNG decoders give RGB either way.
    return np.asarray(rgb, dtype=np.uint8)


def rgb8_to_compressed_msg(rgb: np.ndarray, fmt: str = "jpeg", msg_type=None, header=None, quality: int = 90):
    """Encode ``[H, W, 3]`` uint8 RGB as a CompressedImage (jpeg or png)."""
    from PIL import Image

    if fmt not in ("jpeg", "png"):
        raise ImageFormatError(f"unsupported compressed format {fmt!r}; expected jpeg or png")
    buf = io.BytesIO()
    Image.fromarray(np.asarray(rgb, dtype=np.uint8)).save(buf, format=fmt.upper(), quality=quality)
    if msg_type is None:
        from sensor_msgs.msg import CompressedImage as msg_type  # noqa: N813 - lazy ROS import
    msg = msg_type()
    if header is not None:
        msg.header = header
    msg.format = fmt
    msg.data = buf.getvalue()
    return msg
