"""VGGT preprocessing follows the official crop/pad rules on odd sizes."""
import numpy as np
import pytest
from PIL import Image

from spacemind_ros.model.vggt.preprocessing import preprocess_images, resized_shape


def gradient(w, h, channels=3):
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) % 256], -1).astype(np.uint8)
    if channels == 4:
        img = np.concatenate([img, np.full((h, w, 1), 255, np.uint8)], -1)
    return img


@pytest.mark.parametrize(
    "w,h,mode,expected",
    [
        (640, 480, "crop", (518, 392)),  # 480*518/640/14 = 27.75 -> 28 -> 392
        (1000, 777, "crop", (518, 406)),  # 28.75 -> 29
        (333, 1001, "crop", (518, 1554)),  # tall: 111.2 -> 111 -> 1554, later cropped to 518
        (703, 481, "crop", (518, 350)),  # 25.3 -> 25
        (480, 640, "pad", (392, 518)),
        (640, 480, "pad", (518, 392)),
    ],
)
def test_resized_shape(w, h, mode, expected):
    assert resized_shape(w, h, mode) == expected


def test_round_ties_to_even():
    # height chosen so that h * 518 / w / 14 is exactly x.5: 518/14 = 37, so h/w * 37 = 26.5 -> w = 74, h = 53
    assert resized_shape(74, 53, "crop") == (518, 26 * 14)  # Python round(26.5) == 26
    assert resized_shape(74, 55, "crop") == (518, 28 * 14)  # 27.5 -> 28


def test_crop_mode_centre_crops_tall_images():
    img = gradient(333, 1001)
    out = preprocess_images([img], mode="crop")
    assert out.shape == (1, 3, 518, 518)
    full = np.asarray(Image.fromarray(img).resize((518, 1554), Image.Resampling.BICUBIC), dtype=np.float32) / 255
    start = (1554 - 518) // 2
    np.testing.assert_allclose(out[0].permute(1, 2, 0).numpy(), full[start:start + 518], atol=1e-6)


def test_pad_mode_pads_white_with_floor_half_on_top_left():
    out = preprocess_images([gradient(301, 640)], mode="pad")  # 301*518/640/14 = 17.4 -> 17 -> 238 x 518
    new_w = round(301 * 518 / 640 / 14) * 14
    assert new_w == 238 and out.shape == (1, 3, 518, 518)
    left = (518 - new_w) // 2
    assert (out[0, :, :, :left] == 1.0).all() and (out[0, :, :, left + new_w:] == 1.0).all()
    assert not (out[0, :, :, left:left + new_w] == 1.0).all()


def test_rgba_is_composited_on_white_and_values_in_unit_range():
    rgba = gradient(70, 70, channels=4)
    rgba[..., 3] = 0  # fully transparent -> white
    out = preprocess_images([rgba])
    assert out.shape == (1, 3, 518, 518)
    assert float(out.min()) == 1.0 and float(out.max()) == 1.0


def test_mixed_shapes_are_padded_to_the_largest():
    out = preprocess_images([gradient(640, 480), gradient(640, 400)])
    assert out.shape == (2, 3, 392, 518)
    h2 = round(400 * 518 / 640 / 14) * 14  # 322
    top = (392 - h2) // 2
    assert (out[1, :, :top] == 1.0).all() and (out[1, :, top + h2:] == 1.0).all()


def test_bad_mode_and_empty():
    with pytest.raises(ValueError, match="mode"):
        preprocess_images([gradient(10, 10)], mode="stretch")
    with pytest.raises(ValueError, match="at least one"):
        preprocess_images([])
