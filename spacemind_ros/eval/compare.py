"""Runs side by side: ``spacemind-eval report --runs CLEAN BLIND SHUFFLE ...``.

Each run folder holds ``run.json`` (its settings, perturbation included) and ``predictions.jsonl``. The report has one
table (a column per run, the change from the first run, and the baselines of the first run) and one plot with a
panel per task: bars per run, baseline lines. So "full minus blind" is one command away.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from spacemind_ros.eval.report import BASELINE_STYLE, SHORT, pyplot
from spacemind_ros.eval.results import ScoreResult, score_cell, score_records
from spacemind_ros.eval.scoring import TASKS


@dataclass
class Run:
    folder: Path
    name: str  # the perturbation (clean, blind, camera_noise:2, ...), or the folder's name
    model: str
    result: ScoreResult


def load_runs(folders: list[Path], prior=None, prior_of_evaluated: bool = False,
              names: list[str] | None = None) -> list[Run]:
    """Score each run folder; ValueError names a folder without predictions. ``names``: the runs' names (default:
    their perturbation, or the folder's name)."""
    runs, taken = [], set()
    for k, folder in enumerate(folders):
        predictions = folder / "predictions.jsonl"
        if not predictions.is_file():
            raise ValueError(f"{folder}: no predictions.jsonl (is it a spacemind-eval run folder?)")
        meta = {}
        if (folder / "run.json").is_file():
            meta = json.loads((folder / "run.json").read_text()).get("settings", {})
        name = names[k] if names else meta.get("perturbation") or folder.name
        if name in taken:  # two clean runs of different models: tell them apart by folder
            name = f"{name} ({folder.name})"
        taken.add(name)
        runs.append(Run(folder, name, str(meta.get("model", "?")),
                        score_records(predictions, prior, prior_of_evaluated)))
    return runs


def comparison_table(runs: list[Run]) -> str:
    """Markdown: a row per task and overall; a column per run, then each run minus the first, then the first run's
    baselines ('-' where a run or baseline has no such task)."""
    ref = runs[0]
    baselines = ref.result.baselines
    head = [r.name for r in runs] + [f"{r.name} - {ref.name}" for r in runs[1:]] + list(baselines)
    lines = ["| task | n | " + " | ".join(head) + " |", "|---|---:|" + "---:|" * len(head)]
    for task in (*TASKS, "overall"):
        values = [r.result.official.summary().get(task) for r in runs]
        deltas = [None if v is None or values[0] is None else v - values[0] for v in values[1:]]
        n = ref.result.records if task == "overall" else ref.result.task_count(task)
        cells = [score_cell(v) for v in values] + ["-" if d is None else f"{d:+.2f}" for d in deltas]
        cells += [score_cell(b.scores.get(task)) for b in baselines.values()]
        lines.append(f"| {task} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_comparison(runs: list[Run], path: Path, title: str = "clean vs perturbed runs") -> Path:
    """One panel per task and overall: a bar per run, the first run's baselines as lines; ``title`` says what the
    runs are."""
    plt = pyplot()
    names = [*TASKS, "overall"]
    cols = 3
    fig, axes = plt.subplots((len(names) + cols - 1) // cols, cols, figsize=(4.2 * cols, 3.0 * 3), dpi=100,
                             squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, task in zip(axes.flat, names):
        values = [r.result.official.summary().get(task) for r in runs]
        xs = range(len(runs))
        bars = ax.bar(xs, [v or 0.0 for v in values], color=[colors[i % len(colors)] for i in xs])
        ax.bar_label(bars, labels=["-" if v is None else f"{v:.1f}" for v in values], fontsize=7, padding=1)
        for name, b in runs[0].result.baselines.items():
            if task in b.scores:
                color, style = BASELINE_STYLE.get(name, ("black", "--"))
                ax.axhline(b.scores[task], color=color, linestyle=style, linewidth=1.1, label=name)
        ax.set_title(SHORT[task], fontsize=10)
        ax.set_xticks(list(xs), [r.name for r in runs], rotation=30, ha="right", fontsize=7)
        ax.set_ylim(0, 108)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    handles, labels = [], []
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.tight_layout()
    fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(labels) or 1, fontsize=8,
               frameon=False)
    fig.suptitle(f"VSI-Bench per task: {title} (official scoring); lines: the first run's baselines",
                 y=1.04, fontsize=11)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def write_comparison(runs: list[Run], out: Path) -> tuple[Path, str]:
    """compare.md, compare.png and compare.json in ``out``; returns (compare.md, the table)."""
    out.mkdir(parents=True, exist_ok=True)
    table = comparison_table(runs)
    plot_comparison(runs, out / "compare.png")
    (out / "compare.json").write_text(json.dumps(
        {r.name: {"folder": str(r.folder), "model": r.model, **r.result.to_json()} for r in runs}, indent=1) + "\n")
    models = sorted({r.model for r in runs})
    lines = ["# VSI-Bench: runs side by side", "",
             "| run | folder | model | questions |", "|---|---|---|---:|"]
    lines += [f"| {r.name} | `{r.folder}` | {r.model} | {r.result.records} |" for r in runs]
    lines += [""]
    if len(models) > 1:
        lines += [f"**The runs use different models ({', '.join(models)}): differences are not only the "
                  "perturbation.**", ""]
    if any("preset:tiny" in m for m in models):
        lines += ["**The tiny preset has random weights: these differences measure nothing but the plumbing.**", ""]
    lines += [table, "", "Overall averages the tasks with questions. Baselines are the first run's:", ""]
    lines += [f"- **{b.name}**: {b.label}" for b in runs[0].result.baselines.values()]
    lines += ["", "![clean vs perturbed](compare.png)", ""]
    path = out / "compare.md"
    path.write_text("\n".join(lines))
    return path, table
