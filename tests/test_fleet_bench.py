"""The fleet benchmark's short version: two robots, both layouts, a few seconds each (bench/fleet_bench.py)."""
import pytest

from bench.fleet_bench import run_one, table

pytestmark = pytest.mark.ros


def test_fleet_and_processes_both_answer_every_robot():
    # every frame a keyframe: the window holds min_frames within the warm-up even on a loaded machine
    rows = [run_one(layout, 2, "tiny", seconds=4.0, rate=5.0, keyframe_gap_s=0.0) for layout in ("fleet", "processes")]
    fleet, processes = rows
    assert (fleet["processes"], processes["processes"]) == (1, 2)
    for row in rows:
        assert set(row["per_robot"]) == {"/r1", "/r2"}
        for robot in row["per_robot"].values():
            assert robot["answered"] >= 1 and robot["frames_received"] >= 5
    # one model in memory instead of two (the tiny model is small: the saving is the second interpreter and torch)
    assert fleet["peak_rss_mb"] < processes["peak_rss_mb"]
    assert fleet["batches_run"] and not processes["batches_run"] and "| 2 | fleet | 1 |" in table(rows)
