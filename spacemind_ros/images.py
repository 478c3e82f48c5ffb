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
    # 4:2:2 YUV, two bytes per pixel (a U or V byte and a Y byte); yuv422 is UYVY in ROS, yuv422_yuy2 is YUYV
    "yuv422": Encoding(np.dtype(np.uint8), 2),
    "uyvy": Encoding(np.dtype(np.uint8), 2),
    "yuv422_yuy2": Encoding(np.dtype(np.uint8), 2),
    "yuyv": Encoding(np.dtype(np.uint8), 2),
    "bayer_rggb8": Encoding(np.dtype(np.uint8), 1),  # raw colour-filter mosaics; the name is the top-left 2x2 cell
    "bayer_bggr8": Encoding(np.dtype(np.uint8), 1),
    "bayer_gbrg8": Encoding(np.dtype(np.uint8), 1),
    "bayer_grbg8": Encoding(np.dtype(np.uint8), 1),
    "16UC1": Encoding(np.dtype(np.uint16), 1),
    "mono16": Encoding(np.dtype(np.uint16), 1),
    "32FC1": Encoding(np.dtype(np.float32), 1),
}
YUV422_ORDER = {"yuv422": "uyvy", "uyvy": "uyvy", "yuv422_yuy2": "yuyv", "yuyv": "yuyv"}
BAYER_PATTERN = {"bayer_rggb8": "RGGB", "bayer_bggr8": "BGGR", "bayer_gbrg8": "GBRG", "bayer_grbg8": "GRBG"}
COLOR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", *YUV422_ORDER, *BAYER_PATTERN)


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


def yuv422_to_rgb8(pairs: np.ndarray, order: str) -> np.ndarray:
    """``[H, W, 2]`` uint8 4:2:2 bytes (``order`` "uyvy": U Y0 V Y1, "yuyv": Y0 U Y1 V per pixel pair) -> RGB.

    BT.601 limited range (Y 16-235, U/V 16-240), as OpenCV's COLOR_YUV2RGB_UYVY / _YUY2 and camera drivers use it.
    """
    height, width = pairs.shape[:2]
    if width % 2:
        raise ImageFormatError(f"4:2:2 YUV needs an even width, got {width}")
    quad = pairs.reshape(height, width // 2, 4).astype(np.float32)
    if order == "uyvy":
        u, y0, v, y1 = (quad[..., i] for i in range(4))
    else:
        y0, u, y1, v = (quad[..., i] for i in range(4))
    y = 1.164 * (np.stack([y0, y1], axis=-1).reshape(height, width) - 16.0)
    u, v = np.repeat(u - 128.0, 2, axis=1), np.repeat(v - 128.0, 2, axis=1)
    rgb = np.stack([y + 1.596 * v, y - 0.813 * v - 0.391 * u, y + 2.018 * u], axis=-1)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


_BOX = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.uint32)  # red and blue: sites 2x2 apart
_CROSS = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]], np.uint32)  # green: a checkerboard


def bayer_to_rgb8(raw: np.ndarray, pattern: str) -> np.ndarray:
    """``[H, W]`` uint8 mosaic (``pattern`` e.g. "RGGB": top-left 2x2 cell row by row) -> ``[H, W, 3]`` RGB.

    Bilinear: each colour is the kernel-weighted mean of the same-colour sites in the 3x3 neighbourhood (a site's
    own value where it has that colour), rounded half up. Edges mirror (numpy 'reflect'), which keeps the pattern.
    """
    height, width = raw.shape
    out = np.empty((height, width, 3), np.uint8)
    for c, (colour, kernel) in enumerate((("R", _BOX), ("G", _CROSS), ("B", _BOX))):
        cell = np.array([[pattern[0] == colour, pattern[1] == colour], [pattern[2] == colour, pattern[3] == colour]])
        mask = np.tile(cell, (height // 2 + 1, width // 2 + 1))[:height, :width].astype(np.uint32)
        values = np.pad(raw.astype(np.uint32) * mask, 1, mode="reflect")
        weights = np.pad(mask, 1, mode="reflect")
        num = np.zeros((height, width), np.uint32)
        den = np.zeros((height, width), np.uint32)
        for dy in range(3):
            for dx in range(3):
                if kernel[dy, dx]:
                    num += kernel[dy, dx] * values[dy:dy + height, dx:dx + width]
                    den += kernel[dy, dx] * weights[dy:dy + height, dx:dx + width]
        out[:, :, c] = (num + den // 2) // np.maximum(den, 1)
    return out


def _unsupported(encoding: str) -> ImageFormatError:
    return ImageFormatError(f"unsupported image encoding {encoding!r}; accepted: {', '.join(COLOR_ENCODINGS)}")


def to_rgb8(array: np.ndarray, encoding: str) -> np.ndarray:
    """Convert a decoded colour image to ``[H, W, 3]`` uint8 RGB (alpha dropped, mono repeated, YUV and Bayer
    converted)."""
    if encoding not in COLOR_ENCODINGS:
        raise _unsupported(encoding)
    if encoding == "rgb8":
        return array
    if encoding == "bgr8":
        return np.ascontiguousarray(array[:, :, ::-1])
    if encoding == "rgba8":
        return np.ascontiguousarray(array[:, :, :3])
    if encoding == "bgra8":
        return np.ascontiguousarray(array[:, :, 2::-1])
    if encoding in YUV422_ORDER:
        return yuv422_to_rgb8(array, YUV422_ORDER[encoding])
    if encoding in BAYER_PATTERN:
        return bayer_to_rgb8(array, BAYER_PATTERN[encoding])
    return np.repeat(array[:, :, None], 3, axis=2)


def image_msg_to_rgb8(msg, copy: bool = True) -> np.ndarray:
    """An Image message as ``[H, W, 3]`` uint8 RGB (the model's input); ``copy=False`` may view ``msg.data``.

    Accepts exactly COLOR_ENCODINGS; anything else raises ImageFormatError listing them.
    """
    if msg.encoding not in COLOR_ENCODINGS:
        raise _unsupported(msg.encoding)
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
