"""Pictures for people: a top-down map of the scene and walk, and a contact sheet of frames (PIL)."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from spacemind_ros.scenes.scene import Scene
from spacemind_ros.scenes.walk import Walk


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def _rgb(c) -> tuple[int, int, int]:
    return tuple(int(round(v * 255)) for v in c)  # type: ignore[return-value]


def top_down_map(scene: Scene, walk: Walk, seen_frame: dict[int, int], max_side: int = 640) -> Image.Image:
    """The floor plan: walls, each object's footprint in its category colour with its name (grey and marked
    "unseen" if the walk never saw it), the walk in blue with view arrows, the start as a dot."""
    x0, y0, x1, y1 = scene.room.bounds()
    margin, header = 24, 44
    scale = (max_side - 2 * margin) / max(x1 - x0, y1 - y0)
    w = int(math.ceil((x1 - x0) * scale)) + 2 * margin
    h = int(math.ceil((y1 - y0) * scale)) + 2 * margin + header
    img = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(img)

    def px(x, y):  # world metres -> image pixels, y up
        return margin + (x - x0) * scale, h - margin - (y - y0) * scale

    floor = Image.new("RGB", (w, h), (238, 232, 220))
    grid = ImageDraw.Draw(floor)
    for gx in range(int(math.floor(x0)), int(math.ceil(x1)) + 1):  # 1 m grid
        grid.line([px(gx, y0), px(gx, y1)], fill=(215, 210, 200), width=1)
    for gy in range(int(math.floor(y0)), int(math.ceil(y1)) + 1):
        grid.line([px(x0, gy), px(x1, gy)], fill=(215, 210, 200), width=1)
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).polygon([px(*v) for v in scene.room.floor], fill=255)
    img.paste(floor, (0, 0), mask)  # the grid only on the floor
    draw.polygon([px(*v) for v in scene.room.floor], outline=(30, 30, 30), width=3)
    font, small = _font(13), _font(11)
    for o in sorted(scene.objects, key=lambda o: o.prism.z[1]):
        p = o.prism
        seen = o.index in seen_frame
        fill = _rgb(o.info.colors[0]) if seen else (200, 200, 200)
        (ax, ay), (bx, by) = px(p.lo[0], p.hi[1]), px(p.hi[0], p.lo[1])
        if p.kind == "cylinder":
            draw.ellipse([ax, ay, bx, by], fill=fill, outline=(20, 20, 20), width=2)
        else:
            draw.rectangle([ax, ay, bx, by], fill=fill, outline=(20, 20, 20), width=2)
        label = f"{o.category} #{o.index}" + ("" if seen else " (unseen)")
        cx, cy = px(*p.center)
        box = draw.textbbox((0, 0), label, font=small)
        tw, th = box[2] - box[0], box[3] - box[1]
        draw.rectangle([cx - tw / 2 - 2, cy - th / 2 - 2, cx + tw / 2 + 2, cy + th / 2 + 3], fill=(255, 255, 255))
        draw.text((cx - tw / 2, cy - th / 2), label, fill=(0, 0, 0), font=small)
    path = [px(*p[:2]) for p in walk.positions]
    if len(path) > 1:
        draw.line(path, fill=(30, 90, 220), width=2)
    step = max(1, len(walk) // 24)
    for i in range(0, len(walk), step):  # view direction
        sx, sy = path[i]
        yaw = float(walk.yaw[i])
        draw.line([(sx, sy), (sx + 0.35 * scale * math.cos(yaw), sy - 0.35 * scale * math.sin(yaw))],
                  fill=(220, 60, 40), width=2)
    sx, sy = path[0]
    draw.ellipse([sx - 6, sy - 6, sx + 6, sy + 6], fill=(30, 90, 220), outline=(0, 0, 0))
    title = (f"{scene.name}: {scene.room.shape} room, {scene.room.area:.1f} m^2, {len(scene.objects)} objects, "
             f"{len(walk)} frames\nblue: walk (dot: start), red: view direction, grid: 1 m")
    draw.multiline_text((margin, 6), title, fill=(0, 0, 0), font=font, spacing=3)
    return img


def thumbnail(rgb: np.ndarray, width: int = 200) -> np.ndarray:
    """[h, width, 3] a small copy of a frame for the contact sheet."""
    h = max(1, round(rgb.shape[0] * width / rgb.shape[1]))
    return np.asarray(Image.fromarray(rgb).resize((width, h), Image.BILINEAR))


def contact_sheet(frames: list[tuple[int, float, np.ndarray]], columns: int = 4, title: str = "") -> Image.Image:
    """Thumbnails ``(frame index, seconds, [h, w, 3])`` in a grid, each labelled with its frame and time."""
    if not frames:
        raise ValueError("a contact sheet needs at least one frame")
    th, tw = frames[0][2].shape[:2]
    rows = math.ceil(len(frames) / columns)
    pad, label, header = 4, 16, 24 if title else 0
    sheet = Image.new("RGB", (columns * (tw + pad) + pad, header + rows * (th + label + pad) + pad), (20, 20, 20))
    draw = ImageDraw.Draw(sheet)
    font = _font(12)
    if title:
        draw.text((pad, 5), title, fill=(240, 240, 240), font=font)
    for k, (i, seconds, rgb) in enumerate(frames):
        x = pad + (k % columns) * (tw + pad)
        y = header + pad + (k // columns) * (th + label + pad)
        sheet.paste(Image.fromarray(rgb), (x, y + label))
        draw.text((x + 2, y + 1), f"frame {i}  t={seconds:.1f} s", fill=(240, 240, 240), font=font)
    return sheet
