"""sensor_msgs/Image <-> numpy conversion: every encoding both ways, row padding, and clear errors."""
import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CompressedImage, Image

from spacemind_ros.errors import ImageFormatError
from spacemind_ros.images import (
    ENCODINGS,
    array_to_image_msg,
    compressed_msg_to_rgb8,
    image_msg_to_array,
    image_msg_to_rgb8,
    rgb8_to_compressed_msg,
)

RNG = np.random.default_rng(0)


def sample(encoding, h=5, w=7):
    enc = ENCODINGS[encoding]
    shape = (h, w) if enc.channels == 1 else (h, w, enc.channels)
    if enc.dtype == np.float32:
        return RNG.standard_normal(shape).astype(np.float32)
    return RNG.integers(0, np.iinfo(enc.dtype).max, shape, dtype=enc.dtype)


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize("pad", [0, 3])
@pytest.mark.parametrize("copy", [True, False])
def test_round_trip_every_encoding(encoding, pad, copy):
    arr = sample(encoding)
    row = arr.shape[1] * ENCODINGS[encoding].channels * arr.itemsize
    msg = array_to_image_msg(arr, encoding, step=row + pad)
    msg = deserialize_message(serialize_message(msg), Image)  # data as a subscriber gets it (array.array)
    assert isinstance(msg, Image) and msg.step == row + pad and len(msg.data) == (row + pad) * arr.shape[0]
    back = image_msg_to_array(msg, copy=copy)
    assert back.dtype == arr.dtype and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)
    assert np.shares_memory(back, np.frombuffer(msg.data, np.uint8)) is not copy  # copy=False: a view, no copy


def test_big_endian_depth_is_swapped():
    depth = np.array([[1, 256], [4097, 65535]], dtype=np.uint16)
    msg = Image(height=2, width=2, encoding="16UC1", is_bigendian=1, step=4, data=depth.astype(">u2").tobytes())
    np.testing.assert_array_equal(image_msg_to_array(msg), depth)
    np.testing.assert_array_equal(image_msg_to_array(msg, copy=False), depth)  # swapping always copies


def test_padding_bytes_are_ignored():
    arr = sample("rgb8", 3, 2)
    msg = array_to_image_msg(arr, "rgb8", step=8)
    data = bytearray(msg.data)
    for r in range(3):
        data[r * 8 + 6: r * 8 + 8] = b"\xff\xff"  # garbage in the padding
    msg.data = bytes(data)
    np.testing.assert_array_equal(image_msg_to_array(msg), arr)


@pytest.mark.parametrize(
    "encoding,expected",
    [("rgb8", [10, 20, 30]), ("bgr8", [30, 20, 10]), ("rgba8", [10, 20, 30]), ("bgra8", [30, 20, 10]),
     ("mono8", [10, 10, 10])],
)
def test_to_rgb8(encoding, expected):
    px = {"rgb8": [10, 20, 30], "bgr8": [10, 20, 30], "rgba8": [10, 20, 30, 99], "bgra8": [10, 20, 30, 99],
          "mono8": 10}[encoding]
    arr = np.tile(np.array(px, np.uint8), (2, 3, 1)) if encoding != "mono8" else np.full((2, 3), 10, np.uint8)
    rgb = image_msg_to_rgb8(array_to_image_msg(arr, encoding))
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
    assert rgb[1, 2].tolist() == expected


def test_unknown_encoding():
    msg = Image(height=2, width=2, encoding="nv21", step=4, data=bytes(8))
    with pytest.raises(ImageFormatError, match="unsupported image encoding 'nv21'"):
        image_msg_to_array(msg)


def test_depth_is_not_a_colour_image():
    msg = array_to_image_msg(np.zeros((2, 2), np.float32), "32FC1")
    with pytest.raises(ImageFormatError, match="unsupported image encoding .32FC1.; accepted: rgb8"):
        image_msg_to_rgb8(msg)


@pytest.mark.parametrize(
    "fields,match",
    [
        (dict(height=2, width=2, step=6, data=bytes(11)), r"data length 11 != step \* height"),
        (dict(height=2, width=2, step=6, data=bytes(13)), r"data length 13 != step \* height"),
        (dict(height=2, width=2, step=5, data=bytes(10)), "step 5 is smaller than width"),
        (dict(height=0, width=2, step=6, data=b""), "zero size"),
        (dict(height=2, width=0, step=0, data=b""), "zero size"),
    ],
)
def test_inconsistent_sizes(fields, match):
    with pytest.raises(ImageFormatError, match=match):
        image_msg_to_array(Image(encoding="rgb8", **fields))


def test_array_shape_and_dtype_must_fit_encoding():
    with pytest.raises(ImageFormatError, match="does not fit rgb8"):
        array_to_image_msg(np.zeros((2, 2, 4), np.uint8), "rgb8")
    with pytest.raises(ImageFormatError, match="dtype float64"):
        array_to_image_msg(np.zeros((2, 2, 3)), "rgb8")


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_compressed_round_trip(fmt):
    rgb = np.zeros((16, 24, 3), np.uint8)
    rgb[:, :12] = (200, 30, 40)
    msg = rgb8_to_compressed_msg(rgb, fmt, quality=95)
    assert isinstance(msg, CompressedImage)
    out = compressed_msg_to_rgb8(msg)
    assert out.shape == rgb.shape
    err = np.abs(out.astype(int) - rgb.astype(int))
    if fmt == "png":
        assert err.max() == 0
    else:  # lossy: small on average, and the colours of both halves survive
        assert err.mean() < 3 and np.abs(out[8, 4].astype(int) - (200, 30, 40)).max() < 12


def test_compressed_garbage_and_unknown_format():
    with pytest.raises(ImageFormatError, match="failed to decode"):
        compressed_msg_to_rgb8(CompressedImage(format="jpeg", data=b"not a jpeg at all"))
    with pytest.raises(ImageFormatError, match="unsupported compressed format"):
        compressed_msg_to_rgb8(CompressedImage(format="tiff", data=b"II*\x00"))
    with pytest.raises(ImageFormatError, match="no data"):
        compressed_msg_to_rgb8(CompressedImage(format="png", data=b""))
