"""The evaluation report: report.md (per-task table, counts, latency percentiles, what was run) and PNG plots
(per-task bars against the baselines and an optional baseline predictions file; latency histogram), with matplotlib.
Runs side by side (clean and perturbed) are in ``compare.py``."""
from __future__ import annotations

import json
from pathlib import Path

from spacemind_ros.eval.results import LENIENT_NOTE, OFFICIAL_NOTE, ScoreResult, score_cell
from spacemind_ros.eval.scoring import QUESTION_TYPES, TASKS

SHORT = {"object_counting": "counting", "object_abs_distance": "abs. distance",
         "object_size_estimation": "object size", "room_size_estimation": "room size",
         "object_rel_distance": "rel. distance", "object_rel_direction": "rel. direction",
         "route_planning": "route plan", "obj_appearance_order": "appear. order", "overall": "OVERALL"}


def pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def plot_tasks(result: ScoreResult, path: Path, baseline: ScoreResult | None = None, label: str = "this run",
               baseline_label: str = "baseline") -> Path:
    import numpy as np

    plt = pyplot()
    names = [*TASKS, "overall"]
    series = [(label, result.official.summary(), "#1f77b4")]
    if baseline is not None:
        series.append((baseline_label, baseline.official.summary(), "#ff7f0e"))
    x = np.arange(len(names))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(11, 4.8), dpi=110)
    for i, (name, values, color) in enumerate(series):
        ys = [values.get(t, 0.0) for t in names]
        bars = ax.bar(x - 0.4 + width * (i + 0.5), ys, width, label=name, color=color)
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
    _baseline_marks(ax, result, names)
    for j, t in enumerate(names):
        n = result.records if t == "overall" else result.task_count(t)
        ax.text(j, -4, f"n={n}" if n else "n=0: left out", ha="center", va="top", fontsize=7,
                color="#555555" if n else "#c0392b")
    ax.set_xticks(x, [SHORT[t] for t in names], fontsize=9)
    ax.tick_params(axis="x", pad=14)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_ylim(0, 108)
    ax.set_ylabel("score (0-100)")
    title = "VSI-Bench per task (official scoring of the raw answer)"
    if "preset:tiny" in result.meta.get("model", ""):
        title += "\ntiny preset: random weights, untrained - the scores measure only the plumbing"
    ax.set_title(title, fontsize=11, pad=30)
    ax.axvline(len(TASKS) - 0.5, color="#999999", linewidth=0.8)
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


BASELINE_STYLE = {"random": ("black", ":"), "majority": ("#7f7f7f", "-."), "prior": ("#c0392b", "--")}


def _baseline_marks(ax, result: ScoreResult, names: list[str], centre=None, half: float = 0.45) -> None:
    """One short horizontal line per baseline over each task's bars (labelled once)."""
    for name, b in result.baselines.items():
        color, style = BASELINE_STYLE.get(name, ("black", "--"))
        labelled = False
        for j, t in enumerate(names):
            if t in b.scores:
                x = j if centre is None else centre
                ax.hlines(b.scores[t], x - half, x + half, colors=color, linestyles=style, linewidth=1.2,
                          label=None if labelled else name)
                labelled = True


def plot_latency(result: ScoreResult, path: Path) -> Path:
    import numpy as np

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    lat = np.asarray(result.latencies_s)
    if lat.size:
        ax.hist(lat, bins=min(40, max(5, lat.size // 3)), color="#1f77b4", alpha=0.85)
        for name, value, style in (("p50", np.percentile(lat, 50), "-"), ("p95", np.percentile(lat, 95), "--")):
            ax.axvline(value, color="black", linestyle=style, linewidth=1.2, label=f"{name} = {value:.3f} s")
        ax.legend(fontsize=9)
    else:
        ax.text(0.5, 0.5, "no answered questions", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("latency per question (s)")
    ax.set_ylabel("questions")
    ax.set_title(f"Query latency ({lat.size} answered questions)", fontsize=11)
    ax.grid(alpha=0.3)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def write_report(result: ScoreResult, out: Path, predictions: Path, baseline: ScoreResult | None = None,
                 baseline_path: Path | None = None, run_meta: dict | None = None) -> Path:
    """report.md, tasks.png, latency.png and score.json in ``out``; returns report.md's path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "score.json").write_text(json.dumps(result.to_json(), indent=1) + "\n")
    plot_tasks(result, out / "tasks.png", baseline, baseline_label=f"baseline ({baseline_path.name})"
               if baseline_path else "baseline")
    plot_latency(result, out / "latency.png")
    off, len_ = result.official.summary(), result.lenient.summary()
    base = baseline.official.summary() if baseline else None
    meta = dict(result.meta)
    if run_meta:
        meta.update({k: v for k, v in run_meta.items() if k not in meta})
    lines = ["# VSI-Bench evaluation", "", f"Predictions: `{predictions}`", ""]
    if "preset:tiny" in str(meta.get("model", "")):
        lines += ["**The tiny preset has random weights and is untrained: its answers are random text, and these "
                  "scores measure nothing but the plumbing.**", ""]
    lines += ["| run | value |", "|---|---|"]
    for k in ("model", "backend", "mode", "frames"):
        lines.append(f"| {k} | {meta.get(k, '?')} |")
    for k in ("window_max_frames", "window_duration_s", "keyframe_gap_s", "rate_hz", "questions"):
        if k in meta:
            lines.append(f"| {k} | {meta[k]} |")
    lines += ["", f"- {OFFICIAL_NOTE}", f"- {LENIENT_NOTE}", ""]
    names = list(result.baselines)
    header = ("| task | questions | official | lenient (not official) | " + " | ".join(names) + " |"
              + (" baseline run |" if base else ""))
    lines += [header, "|---|---:|---:|---:|" + "---:|" * len(names) + ("---:|" if base else "")]
    for t in (*TASKS, "overall"):
        n = result.records if t == "overall" else result.task_count(t)
        row = f"| {t} | {n} | {score_cell(off.get(t))} | {score_cell(len_.get(t))} | " \
              + " | ".join(score_cell(result.baselines[b].scores.get(t)) for b in names) + " |"
        if base:
            row += f" {score_cell(base.get(t))} |"
        lines.append(row)
    lines += ["", f"Overall is the mean of the {len(result.tasks_present)} task(s) with questions, as the official "
                  f"code averages the tasks present: {', '.join(result.tasks_present) or 'none'}."]
    lines += ["", "Baselines (scored like the run; random and majority cover multiple-choice tasks only, and their "
                  "overall averages those):", ""]
    lines += [f"- **{b.name}**: {b.label}" for b in result.baselines.values()]
    lines += ["", "| question type | questions | official |", "|---|---:|---:|"]
    per = result.official.per_type()
    for t in QUESTION_TYPES:
        n = result.counts.get(t, 0)
        lines.append(f"| {t} | {n} | {'-' if not n else f'{100 * per[t]:.2f}'} |")
    lat = result.latency_percentiles()
    lines += ["", "## Latency (answered questions)", ""]
    if lat:
        lines += ["| " + " | ".join(lat) + " |", "|" + "---:|" * len(lat),
                  "| " + " | ".join(f"{v:.3f} s" for v in lat.values()) + " |"]
    else:
        lines.append("No answered questions.")
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(result.errors.items())) or "none"
    lines += ["", f"Questions without an answer (scored as empty answers): {errors}.",
              f"Records skipped as bad input: {len(result.problems)}.", "",
              "![per-task scores](tasks.png)", "", "![latency](latency.png)", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
