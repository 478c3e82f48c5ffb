"""4:2:2 YUV and 8-bit Bayer images to RGB, checked against pixels computed by hand; the accepted-encodings error."""
import numpy as np
import pytest
from sensor_msgs.msg import Image

from spacemind_ros.errors import ImageFormatError
from spacemind_ros.images import COLOR_ENCODINGS, image_msg_to_rgb8


def msg(encoding, height, width, data: bytes, step=None):
    bpp = 2 if encoding in ("yuv422", "uyvy", "yuv422_yuy2", "yuyv") else 1
    return Image(height=height, width=width, encoding=encoding, step=step or width * bpp, data=data)


# Two pixel pairs (BT.601 limited range). By hand, R = 1.164 (Y-16) + 1.596 (V-128),
# G = 1.164 (Y-16) - 0.813 (V-128) - 0.391 (U-128), B = 1.164 (Y-16) + 2.018 (U-128), rounded, clipped:
#   Y=16  U=V=128 -> (0, 0, 0)           Y=235 U=V=128 -> 1.164 * 219 = 254.9 -> (255, 255, 255)
#   Y=81  U=90  V=240 -> R 75.66 + 178.75 = 254.4 -> 254; G 75.66 - 91.06 + 14.86 = -0.54 -> 0;
#                        B 75.66 - 76.68 = -1.02 -> 0                                 (pure red)
#   Y=145 U=54  V=34  -> R 150.16 - 150.02 = 0.14 -> 0; G 150.16 + 76.42 + 28.93 = 255.5 -> 255;
#                        B 150.16 - 149.33 = 0.83 -> 1                                (green)
YUV_2x2 = [[(16, 235), 128, 128], [(81, 81), 90, 240]]  # (Y0, Y1), U, V per row: black, white; red, red


def yuv_bytes(order):
    out = bytearray()
    for (y0, y1), u, v in YUV_2x2:
        out += bytes([u, y0, v, y1] if order == "uyvy" else [y0, u, y1, v])
    return bytes(out)


@pytest.mark.parametrize("encoding,order", [("yuv422", "uyvy"), ("uyvy", "uyvy"), ("yuv422_yuy2", "yuyv"),
                                            ("yuyv", "yuyv")])
def test_yuv422_by_hand(encoding, order):
    rgb = image_msg_to_rgb8(msg(encoding, 2, 2, yuv_bytes(order)))
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    assert rgb[0].tolist() == [[0, 0, 0], [255, 255, 255]]
    assert rgb[1].tolist() == [[254, 0, 0], [254, 0, 0]]


def test_yuv422_green_and_row_padding():
    data = bytes([54, 145, 34, 145, 0xEE, 0xEE])  # UYVY, one pair + 2 padding bytes (step 6)
    rgb = image_msg_to_rgb8(msg("uyvy", 1, 2, data, step=6))
    assert rgb.tolist() == [[[0, 255, 1], [0, 255, 1]]]


def test_yuv422_odd_width_is_refused():
    with pytest.raises(ImageFormatError, match="even width"):
        image_msg_to_rgb8(msg("yuyv", 1, 3, bytes(6)))


# A 4x4 mosaic, value 10 * row + col + 1 at each site (distinct everywhere):
RAW = np.array([[1, 2, 3, 4], [11, 12, 13, 14], [21, 22, 23, 24], [31, 32, 33, 34]], np.uint8)


@pytest.mark.parametrize(
    "encoding,pixel,expected",
    [
        # RGGB: R at (even, even), B at (odd, odd), G elsewhere.
        # (1,1) is B: R = mean of diagonals (1+3+21+23)/4 = 12; G = (2+11+13+22)/4 = 12; B = own 12.
        ("bayer_rggb8", (1, 1), [12, 12, 12]),
        # (0,0) is R, mirrored edges: G = (2 + 11 + 2 + 11)/4 = 6.5 -> 7 (half up); B = (12*4)/4 = 12.
        ("bayer_rggb8", (0, 0), [1, 7, 12]),
        # (1,2) is G on a B row: R = (3 + 23)/2 = 13; B = (12 + 14)/2 = 13; G own 13.
        ("bayer_rggb8", (1, 2), [13, 13, 13]),
        # BGGR swaps R and B: (0,0) is B: R = 12 (mirrored diagonal), B = 1.
        ("bayer_bggr8", (0, 0), [12, 7, 1]),
        # GBRG: G at (0,0), B at (0,1), R at (1,0): R = (11 + 11)/2 = 11 (mirror), B = (2 + 2)/2 = 2, G = 1.
        ("bayer_gbrg8", (0, 0), [11, 1, 2]),
        # GRBG: G at (0,0), R at (0,1), B at (1,0): R = 2, B = 11, G = 1.
        ("bayer_grbg8", (0, 0), [2, 1, 11]),
        # GRBG (2,2) is G on an R row: R = (22 + 24)/2 = 23; B = (13 + 33)/2 = 23.
        ("bayer_grbg8", (2, 2), [23, 23, 23]),
    ],
)
def test_bayer_by_hand(encoding, pixel, expected):
    rgb = image_msg_to_rgb8(msg(encoding, 4, 4, RAW.tobytes()))
    assert rgb.shape == (4, 4, 3) and rgb.dtype == np.uint8
    assert rgb[pixel].tolist() == expected


def test_bayer_flat_field_stays_flat():
    for encoding in ("bayer_rggb8", "bayer_bggr8", "bayer_gbrg8", "bayer_grbg8"):
        rgb = image_msg_to_rgb8(msg(encoding, 6, 8, bytes([77]) * 48))
        assert (rgb == 77).all()


@pytest.mark.parametrize("encoding", ["nv21", "bayer_rggb16", "16UC1", "32FC1", "mono16"])
def test_error_lists_exactly_the_accepted_encodings(encoding):
    with pytest.raises(ImageFormatError) as err:
        image_msg_to_rgb8(Image(height=2, width=2, encoding=encoding, step=8, data=bytes(16)))
    listed = str(err.value).split("accepted: ")[1].split(", ")
    assert str(err.value).startswith(f"unsupported image encoding {encoding!r}")
    assert listed == list(COLOR_ENCODINGS)
    for accepted in listed:  # every listed encoding really converts
        bpp = 2 if "yu" in accepted or accepted == "uyvy" else {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4}.get(
            accepted, 1)
        assert image_msg_to_rgb8(Image(height=2, width=2, encoding=accepted, step=2 * bpp,
                                       data=bytes(4 * bpp))).shape == (2, 2, 3)
