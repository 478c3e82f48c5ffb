"""Loss log: CSV rows, TensorBoard scalars (tensorboardX) and a loss-curve PNG (drawn with Pillow)."""
from __future__ import annotations

import csv
from pathlib import Path

COLUMNS = ("step", "epoch", "loss", "lr", "grad_norm", "samples", "skipped", "samples_per_s", "eval_loss", "eval_score",
           "words_loss")


class LossLog:
    def __init__(self, folder: str | Path, tensorboard: bool = True, append: bool = False):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.folder / "train_log.csv"
        new = not (append and self.csv_path.is_file())
        self._file = open(self.csv_path, "w" if new else "a", newline="")
        self._csv = csv.DictWriter(self._file, fieldnames=COLUMNS, extrasaction="ignore")
        if new:
            self._csv.writeheader()
        self._tb = None
        if tensorboard:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(str(self.folder / "tensorboard"))

    def log(self, row: dict) -> None:
        self._csv.writerow({k: row.get(k, "") for k in COLUMNS})
        self._file.flush()
        if self._tb is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)):
                    self._tb.add_scalar(f"eval/{k[5:]}" if k.startswith("eval_") else f"train/{k}", v, row["step"])

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def read_log(path: str | Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def plot_loss_curve(csv_path: str | Path, png_path: str | Path, size=(800, 480)) -> Path:
    """Training loss (and eval loss where logged) against optimizer step."""
    from PIL import Image, ImageDraw

    rows = read_log(csv_path)
    series = {k: [(int(r["step"]), float(r[k])) for r in rows if r.get(k) not in ("", None)]
              for k in ("loss", "eval_loss")}
    points = series["loss"] + series["eval_loss"]
    w, h = size
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    left, right, top, bottom = 70, w - 20, 30, h - 40
    d.rectangle([left, top, right, bottom], outline="black")
    d.text((left, 8), "loss (blue: train, red: eval) vs optimizer step", fill="black")
    if points:
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
        y0, y1 = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1

        def at(x, y):
            return (left + (x - x0) / (x1 - x0) * (right - left), bottom - (y - y0) / (y1 - y0) * (bottom - top))

        for k, colour in (("loss", (30, 80, 200)), ("eval_loss", (200, 40, 40))):
            pts = [at(x, y) for x, y in series[k]]
            if len(pts) > 1:
                d.line(pts, fill=colour, width=2)
            for px, py in pts if len(pts) < 50 else ():
                d.ellipse([px - 2, py - 2, px + 2, py + 2], fill=colour)
        for frac in (0.0, 0.5, 1.0):
            y = y0 + frac * (y1 - y0)
            d.text((5, at(x0, y)[1] - 6), f"{y:.3g}", fill="black")
            x = x0 + frac * (x1 - x0)
            d.text((at(x, y0)[0] - 10, bottom + 8), f"{x:g}", fill="black")
    png_path = Path(png_path)
    img.save(png_path)
    return png_path
